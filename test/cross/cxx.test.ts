/**
 * The C++ layer's Topic and Mailbox wrappers beyond the README programs, compiled as C++17 and as C++20 against
 * c/build/libshmbus.a and run: a bytes view from containers, a Loan whose destructor aborts, range-for, the
 * std::span conversion under C++20, and the cv::Mat header of a message. OpenCV is not installed on the test
 * machines: a stand-in <opencv2/core.hpp> with OpenCV's include guard, constructor Mat(rows, cols, type, data),
 * total() and elemSize() checks that the guarded code compiles and maps the message bytes without a copy.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trackNames } from '../helpers/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'shmbus-cxx-'));
const names = trackNames();
after(() => {
  names.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const OPENCV_STANDIN = `#ifndef OPENCV_CORE_HPP
#define OPENCV_CORE_HPP
#include <cstddef>
#define CV_8U 0
#define CV_16U 2
#define CV_32F 5
#define CV_MAKETYPE(depth, cn) ((depth) + (((cn) - 1) << 3))
#define CV_8UC1 CV_MAKETYPE(CV_8U, 1)
#define CV_8UC3 CV_MAKETYPE(CV_8U, 3)
namespace cv {
class Mat {
 public:
  Mat(int r, int c, int type, void* d, std::size_t s = 0)
      : rows(r), cols(c), data(static_cast<unsigned char*>(d)), step(s ? s : std::size_t(c) * elem(type)), type_(type) {}
  std::size_t total() const { return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols); }
  std::size_t elemSize() const { return elem(type_); }
  int type() const { return type_; }
  int rows, cols;
  unsigned char* data;
  std::size_t step;
 private:
  static std::size_t elem(int t) { return std::size_t((t >> 3) + 1) * ((t & 7) == CV_16U ? 2 : (t & 7) == CV_32F ? 4 : 1); }
  int type_;
};
}  // namespace cv
#endif
`;

const PROGRAM = `#include <opencv2/core.hpp>
#include "shmbus.hpp"
#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const std::string name = argv[1], mbname = argv[2];
  auto topic = shmbus::Topic::create(name, 1 << 16);
  auto sub = shmbus::Topic::subscribe(name);
  std::vector<unsigned char> pixels = {1, 2, 3, 4, 5, 6};
  std::printf("seq %llu\\n", (unsigned long long)topic.publish(pixels));   // a container as bytes
  { auto dropped = topic.loan(10); }                                      // destructor aborts: no seq used
  topic.publish(std::string_view("x"));
  auto m = sub.read(1000ms);
  cv::Mat mat = m->mat(1, 2, CV_8UC3);                                    // a header over the ring, no copy
  std::printf("mat %d %d same-bytes %d first %d\\n", mat.rows, mat.cols, (void*)mat.data == (const void*)m->data().data(), mat.data[0]);
  try {
    m->mat(2, 2, CV_8UC3);
  } catch (const shmbus::error& e) {
    std::printf("too big %s\\n", shmbus_error_code(e.code()));
  }
  auto m2 = sub.read(1000ms);
#if defined(__cpp_lib_span)
  std::span<const std::byte> view = m2->data();
  std::printf("seq %llu size %zu\\n", (unsigned long long)m2->seq(), view.size());
#else
  std::printf("seq %llu size %zu\\n", (unsigned long long)m2->seq(), m2->data().size());
#endif
  std::printf("try %d\\n", sub.try_read().has_value());
  topic.close();
  int n = 0;
  for (const auto& rest : sub) n += (int)rest.size();                     // ends: no publisher left
  std::printf("after close %d\\n", n);

  // A Frame (PROTOCOL §9) rendered into a loan and viewed in place: a cv::Mat header with the row stride.
  auto frames = shmbus::Topic::create(name + "f", 1 << 16);
  auto fsub = shmbus::Topic::subscribe(name + "f");
  {
    const std::size_t size = shmbus_frame_size(3, 2, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT16, 24);
    auto loan = frames.loan(size);
    auto px = shmbus::write_frame_header(loan.bytes(), 3, 2, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT16, 7, 24);
    for (std::size_t i = 0; i < px.size(); i++) px.data()[i] = std::byte(i);
    loan.commit();
  }
  auto fm = fsub.read(1000ms);
  shmbus::frame_view fv(fm->data());
  cv::Mat fmat = fv.mat();
  std::printf("frame %ux%u c%u stride %u ts %llu mat %d %d step %zu elem %zu in-place %d\\n", fv.width(), fv.height(),
              fv.channels(), fv.stride(), (unsigned long long)fv.timestamp_us(), fmat.rows, fmat.cols, fmat.step,
              fmat.elemSize(), (const void*)fmat.data == fv.row(0));
  try {
    shmbus::frame_view bad(shmbus::bytes("not a frame"));
  } catch (const shmbus::error& e) {
    std::printf("bad frame %s\\n", shmbus_error_code(e.code()));
  }
  frames.close();
  shmbus::Topic::unlink(name + "f");  // not tracked by the test's names: removed here

  auto mb = shmbus::Mailbox::create(mbname, 16);
  std::vector<std::byte> into;
  mb.write("abc");
  const auto version = mb.read(into);
  std::printf("mailbox %llu %zu\\n", (unsigned long long)version, into.size());
  try {
    mb.write(std::string(17, 'x'));
  } catch (const shmbus::error& e) {
    std::printf("%s\\n", shmbus_error_code(e.code()));
  }
  return 0;
}
`;

const EXPECTED = `seq 1
mat 1 2 same-bytes 1 first 1
too big ERR_INVALID_ARG
seq 2 size 1
try 0
after close 0
frame 3x2 c3 stride 24 ts 7 mat 2 3 step 24 elem 6 in-place 1
bad frame ERR_INVALID_ARG
mailbox 1 3
ERR_MESSAGE_TOO_LARGE
`;

describe('C++ layer: Topic and Mailbox', () => {
  for (const std of ['c++17', 'c++20']) {
    it(`compiles with -std=${std} -Werror and behaves (bytes views, Loan, range-for, cv::Mat header, Mailbox)`, () => {
      const lib = join(root, 'c', 'build', 'libshmbus.a');
      assert.ok(existsSync(lib), `${lib} is missing: run make -C c`);
      mkdirSync(join(dir, 'opencv2'), { recursive: true });
      writeFileSync(join(dir, 'opencv2', 'core.hpp'), OPENCV_STANDIN);
      const src = join(dir, 'prog.cpp');
      const bin = join(dir, `prog-${std}`);
      writeFileSync(src, PROGRAM);
      const c = spawnSync('c++', [`-std=${std}`, '-Wall', '-Wextra', '-Werror', '-pedantic', `-I${dir}`, `-I${join(root, 'c')}`, src, lib, '-pthread', '-o', bin], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(c.status, 0, c.stderr);
      const r = spawnSync(bin, [names.name('cxx'), names.name('cxxmb')], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, EXPECTED);
    });
  }
});

/*
 * shmbus._speed: the Python peer's hot path (Topic publish and read) in CPython's C API, compiled into the same
 * shared object as the cffi module `shmbus._native` (one copy of the C library; importlib loads this second module
 * from that file by its PyInit__speed).
 *
 * Why (measured, docs/python.md "Performance"): a cffi call costs ~200 ns (argument conversion + a GIL release);
 * the Python wrapper around it, a Message built in Python and a memoryview made through ffi.gc + ffi.buffer cost
 * 2-3 µs more per message. Here a read is one C call that builds the Message itself (a C object that exports its
 * payload through the buffer protocol), keeps the GIL while it only re-reads the ring (try, then the spin), and
 * releases it only to park; publish keeps the GIL for small copies and releases it for large ones or a busy lock.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <limits.h>
#include <time.h>

#include "shmbus.h"

/* Payloads up to this size are copied with the GIL held: releasing and retaking it costs more than the copy. */
#define GIL_COPY_LIMIT (64 * 1024)
/* A blocking read parks in slices of at most this long, so Ctrl-C and close() from another thread are seen. */
#define SLICE_MS 100
/* A spinning read offers the CPU after every this many tries of the ring (reader_spin). */
#define TRIES_PER_YIELD 16u

static PyObject *fail_fn; /* shmbus._lib.fail(status) -> ShmbusError (set by _speed.init) */

static PyObject *raise_status(int rc) {
  PyObject *exc = PyObject_CallFunction(fail_fn, "i", rc);
  if (exc != NULL) {
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
  }
  return NULL;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- MessageBase: one message read from a topic ------------------------------------------------------------- */

typedef struct {
  PyObject_HEAD
  PyObject *keep;   /* keeps the subscriber's C handle (and its mapping) alive while this message lives */
  shmbus_sub *sub;
  char *ptr;        /* the payload: in the ring, or in the caller's buffer (copied) */
  Py_ssize_t size;
  unsigned long long seq;
  long long ts;
  PyObject *data;   /* read(into=...) only: the view of the caller's buffer */
  int copied;
} MsgObject;

static void msg_dealloc(MsgObject *self) {
  PyTypeObject *tp = Py_TYPE(self);
  Py_CLEAR(self->data);
  Py_CLEAR(self->keep);
  tp->tp_free((PyObject *)self);
}

static int msg_getbuffer(MsgObject *self, Py_buffer *view, int flags) {
  /* Writable, like the ring itself (a Loan-style in-place edit is the caller's business). */
  return PyBuffer_FillInfo(view, (PyObject *)self, self->ptr, self->size, 0, flags);
}

static PyBufferProcs msg_as_buffer = {(getbufferproc)msg_getbuffer, NULL};

static PyObject *msg_get_data(MsgObject *self, void *closure) {
  (void)closure;
  if (self->data != NULL) { /* read(into=...): the view of the caller's buffer */
    Py_INCREF(self->data);
    return self->data;
  }
  /* A new view each time, never cached: the view references this message (its exporter), so a cached one would
     make a cycle that this non-GC type never frees (and `keep` would hold the subscriber's C handle open). */
  return PyMemoryView_FromObject((PyObject *)self);
}

static PyObject *msg_valid(MsgObject *self, PyObject *unused) {
  (void)unused;
  if (self->copied) Py_RETURN_TRUE;
  shmbus_msg m;
  memset(&m, 0, sizeof m);
  m.seq = self->seq;
  /* `keep` holds the C handle open, also after the subscriber's close(). */
  return PyBool_FromLong(shmbus_msg_valid(self->sub, &m));
}

static PyMemberDef msg_members[] = {
    {"size", T_PYSSIZET, offsetof(MsgObject, size), READONLY, "payload size in bytes"},
    {"seq", T_ULONGLONG, offsetof(MsgObject, seq), READONLY, "the message's sequence number (1 = first ever)"},
    {"timestamp_us", T_LONGLONG, offsetof(MsgObject, ts), READONLY, "commit time, µs since the epoch (0: none)"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef msg_getset[] = {
    {"data", (getter)msg_get_data, NULL, "the payload as a memoryview (zero-copy)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef msg_methods[] = {
    {"valid", (PyCFunction)msg_valid, METH_NOARGS, "True while the payload has not been overwritten"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MsgType = {
    PyVarObject_HEAD_INIT(NULL, 0) "shmbus._speed.MessageBase", /* tp_name */
    sizeof(MsgObject),                                          /* tp_basicsize */
};

/* A message of type `cls` (the Python subclass shmbus.Message) over m. Steals nothing. */
static PyObject *msg_new(PyTypeObject *cls, PyObject *keep, shmbus_sub *sub, const shmbus_msg *m, PyObject *data) {
  MsgObject *o = (MsgObject *)cls->tp_alloc(cls, 0);
  if (o == NULL) return NULL;
  Py_INCREF(keep);
  o->keep = keep;
  o->sub = sub;
  o->ptr = (char *)m->data;
  o->size = (Py_ssize_t)m->size;
  o->seq = (unsigned long long)m->seq;
  o->ts = (long long)m->timestamp_us;
  if (data != NULL) {
    Py_INCREF(data);
    o->data = data;
    o->copied = 1;
  }
  return (PyObject *)o;
}

/* ---- Reader: the C side of one shmbus.Subscriber ------------------------------------------------------------ */

typedef struct {
  PyObject_HEAD
  shmbus_sub *sub;
  PyObject *keep;        /* the Handle's keep cdata: the C handle closes only once this (and every message) is gone */
  PyTypeObject *cls;     /* shmbus.Message */
  long long spin_ns;     /* how long a read re-reads the ring with the GIL held before it parks */
  int ended;
  int closed;
} ReaderObject;

static void reader_dealloc(ReaderObject *self) {
  Py_CLEAR(self->keep);
  Py_CLEAR(self->cls);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int reader_init(ReaderObject *self, PyObject *args, PyObject *kw) {
  unsigned long long addr;
  PyObject *keep, *cls;
  long long spin_us;
  (void)kw;
  if (!PyArg_ParseTuple(args, "KOOL", &addr, &keep, &cls, &spin_us)) return -1;
  if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &MsgType)) {
    PyErr_SetString(PyExc_TypeError, "cls must be a subclass of MessageBase");
    return -1;
  }
  self->sub = (shmbus_sub *)(uintptr_t)addr;
  Py_INCREF(keep);
  Py_XSETREF(self->keep, keep);
  Py_INCREF(cls);
  Py_XSETREF(self->cls, (PyTypeObject *)cls);
  self->spin_ns = spin_us > 0 ? spin_us * 1000 : 0;
  return 0;
}

/* The outcome of a read status: a message, None (nothing / timed out / end of stream), or an exception. */
static PyObject *reader_result(ReaderObject *self, int rc, const shmbus_msg *m) {
  if (rc == 0) return msg_new(self->cls, self->keep, self->sub, m, NULL);
  if (rc == SHMBUS_EAGAIN || rc == SHMBUS_ETIMEDOUT) Py_RETURN_NONE;
  if (rc == SHMBUS_EEND) {
    self->ended = 1;
    Py_RETURN_NONE;
  }
  return raise_status(rc);
}

static PyObject *reader_try_read(ReaderObject *self, PyObject *unused) {
  (void)unused;
  if (self->closed) return raise_status(SHMBUS_ECLOSED);
  shmbus_msg m;
  int rc = shmbus_sub_try_read(self->sub, &m);
  return reader_result(self, rc, &m);
}

/* The C library's spin yield (c/src/os_posix.c, linked into this same shared object): sched_yield() unless this
   thread is pinned to one CPU and has spun less than 10 µs (c/src/internal.h SBI_PINNED_YIELD_AFTER_NS). */
void sbi_os_yield(int64_t spun_ns);

/* Re-reads the ring for the spin time (GIL held): the status of the last try.
   The spin offers the CPU (sbi_os_yield) after every TRIES_PER_YIELD tries (~0.5 µs). Why (measured, docs/python.md
   "The default read"): when every core is busy, the peer we wait for is often runnable on OUR core, and a pure spin
   keeps it off the CPU until the spin ends and we park: each side of a round trip then burned its whole spin (2 x
   50 µs round trips). Pinned to one CPU it does not yield during its first 10 µs, like every spin of shmbus: a yield
   there usually hands the core to an unrelated thread, and each sched_yield costs ~0.45 µs of syscall between two
   tries (pinned to two cores, Python <-> Python default read p50 1.93-2.10 -> 1.26-1.38 µs, p99.9 18.5-24.7 -> 9.8-11.9
   µs); after that, its peer may share its one CPU, and only a yield lets it answer. */
static int reader_spin(ReaderObject *self, shmbus_msg *m, int64_t start) {
  int rc = SHMBUS_EAGAIN;
  if (self->spin_ns <= 0) return rc;
  const int64_t until = start + self->spin_ns;
  for (unsigned i = 1;; i++) {
    rc = shmbus_sub_try_read(self->sub, m);
    if (rc != SHMBUS_EAGAIN || (i % TRIES_PER_YIELD == 0 && now_ns() >= until)) return rc;
    if (i % TRIES_PER_YIELD == 0) sbi_os_yield(now_ns() - start);
  }
}

/* spin_read(): try, then spin; never parks (None when nothing came): the asyncio path's first step. */
static PyObject *reader_spin_read(ReaderObject *self, PyObject *unused) {
  (void)unused;
  if (self->closed) return raise_status(SHMBUS_ECLOSED);
  shmbus_msg m;
  int rc = shmbus_sub_try_read(self->sub, &m);
  if (rc == SHMBUS_EAGAIN) rc = reader_spin(self, &m, now_ns());
  return reader_result(self, rc, &m);
}

/* read(ms): ms < 0 forever, 0 try once. Tries and spins with the GIL held (no thread switch on the fast path),
   then parks in slices with the GIL released, checking signals and close() between slices. */
static PyObject *reader_read(ReaderObject *self, PyObject *arg) {
  long long ms = PyLong_AsLongLong(arg);
  if (ms == -1 && PyErr_Occurred()) return NULL;
  if (self->closed) return raise_status(SHMBUS_ECLOSED);
  shmbus_msg m;
  int rc = shmbus_sub_try_read(self->sub, &m);
  if (rc != SHMBUS_EAGAIN || ms == 0) return reader_result(self, rc, &m);
  const int64_t start = now_ns();
  rc = reader_spin(self, &m, start);
  if (rc != SHMBUS_EAGAIN) return reader_result(self, rc, &m);
  /* anything the nanosecond clock cannot hold (about 292 years) is forever, never a wrapped past */
  const int64_t deadline = ms < 0 || ms > (INT64_MAX - start) / 1000000 ? INT64_MAX : start + (int64_t)ms * 1000000;
  PyObject *keep = self->keep; /* held across the GIL release: close() cannot free the handle under us */
  Py_INCREF(keep);
  for (;;) {
    int64_t slice = SLICE_MS;
    if (deadline != INT64_MAX) {
      const int64_t left = deadline - now_ns();
      if (left <= 0) {
        rc = SHMBUS_ETIMEDOUT;
        break;
      }
      const int64_t left_ms = (left + 999999) / 1000000;
      if (left_ms < slice) slice = left_ms;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = shmbus_sub_read(self->sub, &m, slice);
    Py_END_ALLOW_THREADS
    if (rc != SHMBUS_ETIMEDOUT) break;
    if (PyErr_CheckSignals() != 0) {
      Py_DECREF(keep);
      return NULL;
    }
    if (self->closed) {
      rc = SHMBUS_ECLOSED;
      break;
    }
  }
  PyObject *res = reader_result(self, rc, &m);
  Py_DECREF(keep);
  return res;
}

/* park_read(ms): one shmbus_sub_read of at most ms, no slices and no spin of its own (the asyncio path runs it in
   park capture, where it never sleeps: shmbus/_aio.py). */
static PyObject *reader_park_read(ReaderObject *self, PyObject *arg) {
  long long ms = PyLong_AsLongLong(arg);
  if (ms == -1 && PyErr_Occurred()) return NULL;
  if (self->closed) return raise_status(SHMBUS_ECLOSED);
  shmbus_msg m;
  int rc;
  PyObject *keep = self->keep;
  Py_INCREF(keep);
  Py_BEGIN_ALLOW_THREADS
  rc = shmbus_sub_read(self->sub, &m, ms);
  Py_END_ALLOW_THREADS
  PyObject *res = reader_result(self, rc, &m);
  Py_DECREF(keep);
  return res;
}

/* message(ptr, size, seq, ts, data): a Message over a payload read elsewhere (the read(into=) path). */
static PyObject *reader_message(ReaderObject *self, PyObject *args) {
  unsigned long long ptr, seq;
  Py_ssize_t size;
  long long ts;
  PyObject *data;
  if (!PyArg_ParseTuple(args, "KnKLO", &ptr, &size, &seq, &ts, &data)) return NULL;
  shmbus_msg m;
  memset(&m, 0, sizeof m);
  m.data = (const void *)(uintptr_t)ptr;
  m.size = (size_t)size;
  m.seq = seq;
  m.timestamp_us = ts;
  return msg_new(self->cls, self->keep, self->sub, &m, data == Py_None ? NULL : data);
}

static PyObject *reader_close(ReaderObject *self, PyObject *unused) {
  (void)unused;
  self->closed = 1;
  Py_RETURN_NONE;
}

static PyObject *reader_get_ended(ReaderObject *self, void *closure) {
  (void)closure;
  return PyBool_FromLong(self->ended);
}

static int reader_set_ended(ReaderObject *self, PyObject *v, void *closure) {
  (void)closure;
  int b = v == NULL ? 0 : PyObject_IsTrue(v);
  if (b < 0) return -1;
  self->ended = b;
  return 0;
}

static PyMethodDef reader_methods[] = {
    {"try_read", (PyCFunction)reader_try_read, METH_NOARGS, "the next message or None; never waits"},
    {"read", (PyCFunction)reader_read, METH_O, "read(ms): the next message, None on timeout or end of stream"},
    {"spin_read", (PyCFunction)reader_spin_read, METH_NOARGS, "try, then spin; None when nothing came"},
    {"park_read", (PyCFunction)reader_park_read, METH_O, "park_read(ms): one C read (the asyncio path)"},
    {"message", (PyCFunction)reader_message, METH_VARARGS, "a Message over a payload read elsewhere"},
    {"close", (PyCFunction)reader_close, METH_NOARGS, "later reads raise ERR_CLOSED; a parked read ends"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef reader_getset[] = {
    {"ended", (getter)reader_get_ended, (setter)reader_set_ended, "end of stream seen", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0) "shmbus._speed.Reader", /* tp_name */
    sizeof(ReaderObject),                                   /* tp_basicsize */
};

/* ---- publish -------------------------------------------------------------------------------------------------- */

/* Copies data into the ring: 0 (seq set), a negative status, or PUBLISH_PYERR with a Python exception set
   (TypeError/BufferError: not a C-contiguous buffer). Copies up to GIL_COPY_LIMIT keep the GIL; larger ones, and a
   wait for another publisher's lock (it may be a thread of ours), release it. */
#define PUBLISH_PYERR INT_MIN
static int publish_core(shmbus_topic *t, PyObject *data, long long ms, uint64_t *seq) {
  int rc;
  if (PyBytes_CheckExact(data) && PyBytes_GET_SIZE(data) <= GIL_COPY_LIMIT) {
    rc = shmbus_topic_publish_ex(t, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data), 0, seq);
    if (rc == SHMBUS_ETIMEDOUT && ms != 0) {
      const char *p = PyBytes_AS_STRING(data);
      size_t n = (size_t)PyBytes_GET_SIZE(data);
      Py_BEGIN_ALLOW_THREADS
      rc = shmbus_topic_publish_ex(t, p, n, ms, seq);
      Py_END_ALLOW_THREADS
    }
    return rc;
  }
  Py_buffer b;
  if (PyUnicode_Check(data)) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(data, &n);
    if (s == NULL) return PUBLISH_PYERR;
    if (PyBuffer_FillInfo(&b, data, (void *)s, n, 1, PyBUF_SIMPLE) != 0) return PUBLISH_PYERR;
  } else if (PyObject_GetBuffer(data, &b, PyBUF_C_CONTIGUOUS) != 0) {
    return PUBLISH_PYERR;
  }
  rc = b.len <= GIL_COPY_LIMIT ? shmbus_topic_publish_ex(t, b.buf, (size_t)b.len, 0, seq) : SHMBUS_ETIMEDOUT;
  if (rc == SHMBUS_ETIMEDOUT && (ms != 0 || b.len > GIL_COPY_LIMIT)) {
    Py_BEGIN_ALLOW_THREADS
    rc = shmbus_topic_publish_ex(t, b.buf, (size_t)b.len, ms, seq);
    Py_END_ALLOW_THREADS
  }
  PyBuffer_Release(&b);
  return rc;
}

/* publish(topic_address, data, timeout_ms) -> seq (> 0), or a negative status; raises TypeError/BufferError for
   data that is not a C-contiguous buffer (the caller turns them into ERR_INVALID_ARG). Topic._publish's path (a
   timeout given). */
static PyObject *speed_publish(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
  (void)mod;
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "publish(topic, data, timeout_ms)");
    return NULL;
  }
  shmbus_topic *t = (shmbus_topic *)PyLong_AsVoidPtr(args[0]);
  long long ms = PyLong_AsLongLong(args[2]);
  if (PyErr_Occurred()) return NULL;
  uint64_t seq = 0;
  const int rc = publish_core(t, args[1], ms, &seq);
  if (rc == PUBLISH_PYERR) return NULL;
  if (rc != 0) return PyLong_FromLong(rc);
  return PyLong_FromUnsignedLongLong(seq);
}

/* ---- TopicBase: the base of shmbus.Topic, whose publish() is this C method (no Python frame per message) ------ */

typedef struct {
  PyObject_HEAD
  PyObject *keep;  /* the Handle's keep cdata while open (NULL once unbound: close()) */
  shmbus_topic *t;
} TopicBaseObject;

static void topicbase_dealloc(TopicBaseObject *self) {
  Py_CLEAR(self->keep);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* _bind(topic_address, keep) / _unbind(): publish() works between the two (Topic._wrap / Topic.close). */
static PyObject *topicbase_bind(TopicBaseObject *self, PyObject *args) {
  unsigned long long addr;
  PyObject *keep;
  if (!PyArg_ParseTuple(args, "KO", &addr, &keep)) return NULL;
  Py_INCREF(keep);
  Py_XSETREF(self->keep, keep);
  self->t = (shmbus_topic *)(uintptr_t)addr;
  Py_RETURN_NONE;
}

static PyObject *topicbase_unbind(TopicBaseObject *self, PyObject *unused) {
  (void)unused;
  Py_CLEAR(self->keep);
  self->t = NULL;
  Py_RETURN_NONE;
}

/* publish(data, *, timeout=None) -> seq. The common call (no timeout: wait for another publisher's lock as long as
   it takes) runs here; a timeout, or data that is not a C-contiguous buffer, goes to Topic._publish (Python: the
   timeout's checks, ERR_INVALID_ARG with its reason). */
static PyObject *topicbase_publish(TopicBaseObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs == 1 && (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0)) {
    PyObject *keep = self->keep; /* held for the call: a close() from another thread cannot free the handle */
    if (keep == NULL) return raise_status(SHMBUS_ECLOSED);
    Py_INCREF(keep);
    uint64_t seq = 0;
    const int rc = publish_core(self->t, args[0], -1, &seq);
    Py_DECREF(keep);
    if (rc == 0) return PyLong_FromUnsignedLongLong(seq);
    if (rc != PUBLISH_PYERR) return raise_status(rc);
    if (!PyErr_ExceptionMatches(PyExc_TypeError) && !PyErr_ExceptionMatches(PyExc_BufferError) &&
        !PyErr_ExceptionMatches(PyExc_ValueError))
      return NULL;
    PyErr_Clear();
  }
  PyObject *slow = PyObject_GetAttrString((PyObject *)self, "_publish");
  if (slow == NULL) return NULL;
  PyObject *res = PyObject_Vectorcall(slow, args, (size_t)nargs, kwnames);
  Py_DECREF(slow);
  return res;
}

static PyMethodDef topicbase_methods[] = {
    {"publish", (PyCFunction)(void (*)(void))topicbase_publish, METH_FASTCALL | METH_KEYWORDS,
     "publish(data, *, timeout=None) -> seq: copies data into the ring (see shmbus.Topic)"},
    {"_bind", (PyCFunction)topicbase_bind, METH_VARARGS, "_bind(topic_address, keep)"},
    {"_unbind", (PyCFunction)topicbase_unbind, METH_NOARGS, "publish() raises ERR_CLOSED from now on"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TopicBaseType = {
    PyVarObject_HEAD_INIT(NULL, 0) "shmbus._speed.TopicBase", /* tp_name */
    sizeof(TopicBaseObject),                                   /* tp_basicsize */
};

static PyObject *speed_init(PyObject *mod, PyObject *fn) {
  (void)mod;
  Py_INCREF(fn);
  Py_XSETREF(fail_fn, fn);
  Py_RETURN_NONE;
}

static PyMethodDef speed_methods[] = {
    {"publish", (PyCFunction)(void (*)(void))speed_publish, METH_FASTCALL, "publish(topic, data, timeout_ms) -> seq or status"},
    {"init", (PyCFunction)speed_init, METH_O, "init(fail): the function that turns a status into an exception"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speed_module = {PyModuleDef_HEAD_INIT, "shmbus._speed", NULL, -1, speed_methods,
                                          NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__speed(void);
PyMODINIT_FUNC PyInit__speed(void) {
  MsgType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
  MsgType.tp_dealloc = (destructor)msg_dealloc;
  MsgType.tp_as_buffer = &msg_as_buffer;
  MsgType.tp_members = msg_members;
  MsgType.tp_getset = msg_getset;
  MsgType.tp_methods = msg_methods;
  MsgType.tp_doc = "A topic message (base of shmbus.Message); made by reads only";
  if (PyType_Ready(&MsgType) < 0) return NULL;
  ReaderType.tp_flags = Py_TPFLAGS_DEFAULT;
  ReaderType.tp_dealloc = (destructor)reader_dealloc;
  ReaderType.tp_methods = reader_methods;
  ReaderType.tp_getset = reader_getset;
  ReaderType.tp_init = (initproc)reader_init;
  ReaderType.tp_new = PyType_GenericNew;
  ReaderType.tp_doc = "Reader(sub_address, keep, Message, spin_us): the C side of a Subscriber";
  if (PyType_Ready(&ReaderType) < 0) return NULL;
  TopicBaseType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
  TopicBaseType.tp_dealloc = (destructor)topicbase_dealloc;
  TopicBaseType.tp_methods = topicbase_methods;
  TopicBaseType.tp_new = PyType_GenericNew;
  TopicBaseType.tp_doc = "The base of shmbus.Topic: publish() in C";
  if (PyType_Ready(&TopicBaseType) < 0) return NULL;
  PyObject *m = PyModule_Create(&speed_module);
  if (m == NULL) return NULL;
  Py_INCREF(&MsgType);
  Py_INCREF(&ReaderType);
  Py_INCREF(&TopicBaseType);
  if (PyModule_AddObject(m, "MessageBase", (PyObject *)&MsgType) < 0 ||
      PyModule_AddObject(m, "Reader", (PyObject *)&ReaderType) < 0 ||
      PyModule_AddObject(m, "TopicBase", (PyObject *)&TopicBaseType) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}

"""PEP 517 backend for `pip install ./python`: compiles the C peer (../c/shmbus.c, the unity file) into the cffi
extension `shmbus._native` and writes the wheel directly.

Why not setuptools' own backend: setuptools < 70 builds wheels only through the separate `wheel` package, which the
target machines do not have (and they reach no index to fetch it); a wheel is a zip with three metadata files, so
writing it here removes that dependency. The compiler is still driven by setuptools/distutils through cffi.
"""
from __future__ import annotations

import base64
import hashlib
import os
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PKG_ROOT = HERE.parent  # python/
PACKAGE = "shmbus"


def _project() -> dict:
    try:
        import tomllib  # type: ignore[import-not-found]
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    with open(PKG_ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _tag() -> str:
    impl = "cp" if sys.implementation.name == "cpython" else sys.implementation.name[:2]
    ver = f"{sys.version_info[0]}{sys.version_info[1]}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{impl}{ver}-{impl}{ver}-{platform}"


def _dist_name(project: dict) -> str:
    return f"{project['name'].replace('-', '_')}-{project['version']}"


def _metadata(project: dict) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3.9')}",
    ]
    lines += [f"Requires-Dist: {d}" for d in project.get("dependencies", [])]
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f"Requires-Dist: {d}; extra == \"{extra}\"" for d in deps]
    return "\n".join(lines) + "\n"


def _compile(tmp: Path) -> Path:
    sys.path.insert(0, str(HERE))
    try:
        import ffi_build  # noqa: PLC0415 (the builder lives beside this file)
    finally:
        sys.path.pop(0)
    out = ffi_build.ffibuilder().compile(tmpdir=str(tmp), verbose=bool(os.environ.get("SHMBUS_BUILD_VERBOSE")))
    return Path(out)


def get_requires_for_build_wheel(config_settings=None):  # noqa: ARG001
    return ["cffi>=1.15", "setuptools>=61"] + (["tomli"] if sys.version_info < (3, 11) else [])


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):  # noqa: ARG001
    project = _project()
    info = Path(metadata_directory) / f"{_dist_name(project)}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(_metadata(project))
    (info / "WHEEL").write_text(_wheel_file())
    return info.name


def _wheel_file() -> str:
    return f"Wheel-Version: 1.0\nGenerator: shmbus-backend\nRoot-Is-Purelib: false\nTag: {_tag()}\n"


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):  # noqa: ARG001
    project = _project()
    dist = _dist_name(project)
    wheel_name = f"{dist}-{_tag()}.whl"
    files: list[tuple[str, bytes]] = []
    src = PKG_ROOT / PACKAGE
    for p in sorted(src.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and (p.suffix in (".py", ".pyi") or p.name == "py.typed"):
            files.append((f"{PACKAGE}/{p.relative_to(src).as_posix()}", p.read_bytes()))
    with tempfile.TemporaryDirectory(prefix="shmbus-build-") as tmp:
        so = _compile(Path(tmp))
        files.append((f"{PACKAGE}/{so.name}", so.read_bytes()))
    info = f"{dist}.dist-info"
    files.append((f"{info}/METADATA", _metadata(project).encode()))
    files.append((f"{info}/WHEEL", _wheel_file().encode()))
    files.append((f"{info}/top_level.txt", f"{PACKAGE}\n".encode()))
    record = [_record_line(n, d) for n, d in files] + [f"{info}/RECORD,,"]
    files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    path = Path(wheel_directory) / wheel_name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for n, d in files:
            zi = zipfile.ZipInfo(n, date_time=(2026, 1, 1, 0, 0, 0))
            zi.external_attr = (0o755 if n.endswith(".so") else 0o644) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, d)
    return wheel_name

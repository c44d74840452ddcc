"""Lays out the partnership-client wheel (see pyproject.toml).

At build time the stubs are generated from ../../proto (generate.py, with
the grpcio-tools that pyproject.toml pins) into build/src, beside the
helpers copied into the package `partnership_client`:

    partnership/v1/*_pb2.py, *_pb2_grpc.py, *.pyi   the stubs
    partnership_client/auth.py                       with_token(channel, token)
    partnership_client/retry.py                      options(): the retry policy
    partnership_client/service-config.json           (../service-config.json)
    partnership_client/mirror.py                     the SME mirror (also `partnership-mirror`)
    partnership_client/tracing.py                    W3C trace context: new_traceparent(), trace_id_of(call)

The build fails when the gencode needs a newer grpcio or protobuf than the
dependencies in pyproject.toml allow.
"""

import pathlib
import re
import shutil
import sys

from setuptools import setup

HERE = pathlib.Path(__file__).resolve().parent
STAGE = HERE / "build" / "src"

sys.path.insert(0, str(HERE))
import generate  # noqa: E402

INIT = '''"""Helpers for the partnership service; the stubs are the package partnership.v1.

    from partnership.v1 import sme_pb2, sme_pb2_grpc
    from partnership_client import auth, retry
"""

__version__ = "{version}"
'''


def version() -> str:
    return re.search(r'^version = "([^"]+)"', (HERE / "pyproject.toml").read_text(), re.M).group(1)


def check_gencode_bounds() -> None:
    """The stubs' own version checks, against the lowest versions the
    dependencies allow: a wheel that installs but fails on import is refused."""
    deps = (HERE / "pyproject.toml").read_text()
    v1 = STAGE / "partnership" / "v1"
    protobuf = re.search(r"Protobuf Python Version: (\S+)", (v1 / "sme_pb2.py").read_text())
    grpcio = re.search(r"GRPC_GENERATED_VERSION = '([^']+)'", (v1 / "sme_pb2_grpc.py").read_text())
    if not protobuf or not grpcio:
        raise SystemExit("setup.py: the generated stubs carry no version header")
    major = int(protobuf.group(1).split(".")[0])
    wanted = [f'"protobuf>={protobuf.group(1)},<{major + 1}"', f'"grpcio>={grpcio.group(1)},<2"']
    missing = [w for w in wanted if w not in deps]
    if missing:
        raise SystemExit(f"setup.py: the stubs need {', '.join(missing)} in pyproject.toml's dependencies")


def stage() -> None:
    # All of build/: setuptools' build/lib of an earlier build would carry
    # stubs of .proto files since removed into this wheel.
    shutil.rmtree(HERE / "build", ignore_errors=True)
    generate.generate(STAGE, pyi=True)
    for package in ("partnership", "partnership/v1"):
        (STAGE / package / "__init__.py").write_text("")
    (STAGE / "partnership" / "py.typed").write_text("")
    helpers = STAGE / "partnership_client"
    helpers.mkdir()
    for name in ("auth.py", "retry.py", "mirror.py", "tracing.py"):
        shutil.copy2(HERE / name, helpers / name)
    shutil.copy2(HERE.parent / "service-config.json", helpers / "service-config.json")
    (helpers / "__init__.py").write_text(INIT.format(version=version()))
    check_gencode_bounds()


stage()
setup(
    package_dir={"": str(STAGE.relative_to(HERE))},
    packages=["partnership", "partnership.v1", "partnership_client"],
    package_data={
        "partnership": ["py.typed"],
        "partnership.v1": ["*.pyi"],
        "partnership_client": ["service-config.json"],
    },
)

"""Generates Python stubs for the partnership API from ../../proto.

Usage: python generate.py [OUT_DIR]   (default: ./gen)
Then put OUT_DIR on PYTHONPATH. `google.type.date_pb2` and the
`google.rpc` error details come from googleapis-common-protos, which
grpcio-status installs.
"""

import pathlib
import sys

from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"


def generate(out_dir: pathlib.Path, pyi: bool = False) -> pathlib.Path:
    """Writes the stubs under out_dir; with pyi, type stubs (.pyi) too."""
    if not PROTO.is_dir():
        raise SystemExit(f"no proto/ at {PROTO}: build from a checkout of the repository")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "partnership").rglob("*.proto"))
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *([f"--pyi_out={out_dir}"] if pyi else []),
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return out_dir


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "gen"
    print(f"stubs written to {generate(target)}")

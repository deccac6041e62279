"""Build the docker-alembic image without any network inside the build.

Step 1 builds wheels on the host for the runner (the repository root) and its
database drivers into build/wheels/ (emptied first, so no stale wheel gets in).
Step 2 runs ``docker build`` with the repository root as the context; the
Dockerfile installs from those wheels with ``pip --no-index``.

    python docker/build_image.py [--tag TAG] [--base-image IMAGE] [--skip-wheels] [--reuse]

``--reuse`` skips both steps when the image TAG was built from the same
inputs: the runner's sources, its packaging files, the Dockerfile and helper,
and the base image (their digest is the image's ``org.docker-alembic.inputs``
label). The drivers are whatever pip resolved at that build.

Defaults come from the environment: IMAGE_TAG (docker-alembic:dev) and
BASE_IMAGE (python:3.11-slim). ``nox -s image -- ARGS`` and ``make image``
call this script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TAG = "docker-alembic:dev"
DEFAULT_BASE_IMAGE = "python:3.11-slim"
BUILD_STAGE_LABEL = "org.docker-alembic.stage=build"
DRIVERS = ("psycopg[binary]", "pymysql")
INPUTS_LABEL = "org.docker-alembic.inputs"
# What goes into the image, besides the drivers pip resolves (see --reuse).
INPUT_FILES = ("pyproject.toml", "README.md", ".dockerignore", "docker/Dockerfile",
               "docker/sqlite-query", "docker/build_image.py")  # fmt: skip
INPUT_TREES = ("runner",)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tag",
        default=os.environ.get("IMAGE_TAG") or DEFAULT_TAG,
        help="image tag (env IMAGE_TAG; default %(default)s)",
    )
    parser.add_argument(
        "--base-image",
        default=os.environ.get("BASE_IMAGE") or DEFAULT_BASE_IMAGE,
        help="FROM image with python3 and venv (env BASE_IMAGE; default %(default)s)",
    )
    parser.add_argument(
        "--network",
        default="host",
        help="network for RUN steps; they need none (default %(default)s)",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    parser.add_argument("--python", default=sys.executable, help="Python that builds the wheels")
    parser.add_argument("--skip-wheels", action="store_true", help="reuse build/wheels/ as it is")
    parser.add_argument("--docker", default="docker", help="docker client to call")
    parser.add_argument(
        "--reuse", action="store_true", help="keep TAG if it was built from the same inputs"
    )
    return parser.parse_args(argv)


def inputs_digest(root: Path, base_image_id: str) -> str:
    """SHA-256 over every file the image is built from, and the base image's id."""
    digest = hashlib.sha256(f"base {base_image_id}\ndrivers {' '.join(DRIVERS)}\n".encode())
    paths = [root / name for name in INPUT_FILES]
    for tree in INPUT_TREES:
        paths += [
            p for p in (root / tree).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ]
    for path in sorted(paths):
        if path.is_file():
            digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def image_label(docker: str, tag: str, label: str) -> str | None:
    result = subprocess.run(
        [docker, "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', tag],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def run(command: Sequence[str], cwd: Path) -> None:
    """Run a command, echoing it first; raise CalledProcessError on failure."""
    print("+", shlex.join(command), flush=True)
    subprocess.run(command, cwd=cwd, check=True)


def clean_build_dir(root: Path) -> Path:
    """Empty build/wheels/ and drop setuptools' build/lib and build/bdist.*.

    A stale build/lib would put files deleted from the tree into the wheel.
    """
    build = root / "build"
    for stale in [build / "lib", *build.glob("bdist.*")]:
        if stale.is_dir():
            shutil.rmtree(stale)
    wheel_dir = build / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    for wheel in wheel_dir.glob("*.whl"):
        wheel.unlink()
    return wheel_dir


def build_wheels(root: Path, python: str) -> Path:
    wheel_dir = clean_build_dir(root)
    run([python, "-m", "pip", "wheel", "--wheel-dir", str(wheel_dir), ".", *DRIVERS], root)
    return wheel_dir


def git_revision(root: Path) -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def project_version(wheel_dir: Path) -> str:
    """The runner's version, read from its wheel's file name."""
    for wheel in wheel_dir.glob("docker_alembic-*.whl"):
        return wheel.name.split("-")[1]
    return "dev"


def docker_build_command(args: argparse.Namespace, wheel_dir: Path, inputs: str) -> list[str]:
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    build_args = {
        "BASE_IMAGE": args.base_image,
        "VERSION": project_version(wheel_dir),
        "REVISION": git_revision(args.root),
        "CREATED": created,
    }
    command = [args.docker, "build", "--network", args.network, "-f", "docker/Dockerfile"]
    command += ["-t", args.tag, "--label", f"{INPUTS_LABEL}={inputs}"]
    for key, value in build_args.items():
        command += ["--build-arg", f"{key}={value}"]
    return [*command, "."]


def image_id(docker: str, tag: str) -> str | None:
    result = subprocess.run(
        [docker, "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def drop_replaced_image(docker: str, old_id: str | None, tag: str) -> None:
    """Remove the image TAG pointed to before, now untagged; quietly keep it if in use."""
    if old_id is None or old_id == image_id(docker, tag):
        return
    subprocess.run([docker, "image", "rm", old_id], capture_output=True, check=False)


def prune_build_stage(docker: str, root: Path) -> None:
    """Drop the untagged build-stage images the legacy builder leaves behind."""
    label = f"label={BUILD_STAGE_LABEL}"
    run([docker, "image", "prune", "--force", "--filter", label], root)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    root: Path = args.root.resolve()
    args.root = root
    started = time.monotonic()
    try:
        inputs = inputs_digest(root, image_id(args.docker, args.base_image) or args.base_image)
        if args.reuse and image_label(args.docker, args.tag, INPUTS_LABEL) == inputs:
            print(f"build_image: {args.tag} is up to date (built from the same inputs)")
            return 0
        if args.skip_wheels:
            wheel_dir = root / "build" / "wheels"
        else:
            wheel_dir = build_wheels(root, args.python)
        wheels_done = time.monotonic()
        if not any(wheel_dir.glob("*.whl")):
            print(f"build_image: no wheels in {wheel_dir}", file=sys.stderr)
            return 2
        old_id = image_id(args.docker, args.tag)
        run(docker_build_command(args, wheel_dir, inputs), root)
        prune_build_stage(args.docker, root)
        drop_replaced_image(args.docker, old_id, args.tag)
    except FileNotFoundError as exc:
        print(f"build_image: command not found: {exc.filename}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"build_image: failed ({exc.returncode}): {shlex.join(exc.cmd)}", file=sys.stderr)
        if image_id(args.docker, args.base_image) is None:
            print(
                f"build_image: the base image {args.base_image} is not on this engine, and"
                " pulling it failed: without a registry, make one from Debian's packages:"
                ' BASE_IMAGE="$(bash docker/engine.sh)" make image',
                file=sys.stderr,
            )
        return 1
    done = time.monotonic()
    print(
        f"build_image: {args.tag} from {args.base_image}: "
        f"wheels {wheels_done - started:.1f}s, docker build {done - wheels_done:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The images docker-compose.yml names, for `make test-compose`: pulled when a registry answers; otherwise stand-ins
built here from Debian's packages with the upstream images' layout (entrypoint, config and data paths, user
`nobody`, `wget` for healthchecks), tagged with the names the compose file pins — and said so on the console,
never silently. The base is a minimal Debian made by debootstrap from the mirror apt already uses, with this
machine's extra CA certificates (its egress proxy signs with them) so that apt and pip inside verify.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

BASE = "costwarden-standin/debian:bookworm"
_UPSTREAM_LIKE = """\
FROM {base}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {package} \\
    wget >/dev/null && rm -rf /var/lib/apt/lists/* \\
 && ( [ -e /bin/{name} ] || ln -s /usr/bin/{binary} /bin/{name} ) \\
 && mkdir -p /{name} /etc/{name} && chown nobody:nogroup /{name}
USER nobody
WORKDIR /{name}
EXPOSE {port}
ENTRYPOINT ["/bin/{name}"]
CMD ["--config.file=/etc/{name}/{name}.yml"]
"""
STANDINS = {
    "prom/prometheus:v3.1.0": _UPSTREAM_LIKE.format(base=BASE, package="prometheus", binary="prometheus",
                                                    name="prometheus", port=9090),
    "prom/alertmanager:v0.28.0": _UPSTREAM_LIKE.format(base=BASE, package="prometheus-alertmanager",
                                                       binary="prometheus-alertmanager", name="alertmanager",
                                                       port=9093),
    # The official image's layout: `python` and `pip` first on PATH, installs allowed (Debian's own python3 is
    # "externally managed", so a venv at /usr/local gives the same).
    "python:3.12.8-slim-bookworm": f"""\
FROM {BASE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 \\
    python3-venv >/dev/null && rm -rf /var/lib/apt/lists/* && python3 -m venv /usr/local
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
""",
}  # fmt: skip


def _docker(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def present(image: str) -> bool:
    return _docker("image", "inspect", image, check=False).returncode == 0


def pulled(image: str) -> bool:
    try:
        return _docker("pull", "--quiet", image, timeout=60, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def mirror() -> str:
    """The Debian mirror this machine's apt uses (nothing else is reachable from here)."""
    for sources in [*Path("/etc/apt").glob("sources.list"), *sorted(Path("/etc/apt").glob("sources.list.d/*"))]:
        if sources.is_file():
            for url in re.findall(r"(?:URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)\b", sources.read_text(), re.M):
                return str(url)
    return "http://deb.debian.org/debian"


def base() -> None:
    if present(BASE):
        return
    with tempfile.TemporaryDirectory(prefix="costwarden-base-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(["debootstrap", "--variant=minbase", "--include=ca-certificates", "bookworm", str(root),
                        mirror()], check=True, capture_output=True, timeout=900)  # fmt: skip
        extra = Path("/usr/local/share/ca-certificates")
        if extra.is_dir():
            for cert in extra.glob("*.crt"):
                shutil.copy(cert, root / "usr/local/share/ca-certificates" / cert.name)
            subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True, capture_output=True)
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
            subprocess.run(["docker", "import", "-", BASE], stdin=tar.stdout, check=True, capture_output=True)
        assert tar.returncode == 0


def ensure(images: list[str]) -> list[str]:
    """Every image in `images` present; returns the ones that are stand-ins (built here), which the caller
    announces."""
    standins: list[str] = []
    for image in images:
        if present(image) and _docker("image", "inspect", "-f", "{{index .Config.Labels \"costwarden.standin\"}}",
                                      image).stdout.strip() != "yes":  # fmt: skip
            continue
        if image in STANDINS and (present(image) or not pulled(image)):
            standins.append(image)
            if present(image):
                continue
            base()
            with tempfile.TemporaryDirectory(prefix="costwarden-standin-") as tmp:
                (Path(tmp) / "Dockerfile").write_text(STANDINS[image] + 'LABEL costwarden.standin="yes"\n')
                _docker("build", "--network", "host", "-t", image, tmp)
        elif not present(image) and not pulled(image):
            raise RuntimeError(f"{image}: no registry answers and there is no stand-in for it")
    return standins


def remove(images: list[str]) -> None:
    if images:
        _docker("image", "rm", "--force", *images, BASE, check=False)

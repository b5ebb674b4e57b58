"""The container image (deploy/container/Containerfile), built with podman and run.

The runtime stage is built from the binaries this build made (a context holding prebuilt/), so
nothing is compiled; scripts/build-image.sh does the full two-stage build for releases. No
container registry is reachable here, so the debian:bookworm-slim base is made with debootstrap
(minbase) and imported, unless podman has it already. `podman run` needs cgroups this sandbox
refuses, so the gateway runs from the image's exported filesystem under chroot, as user 65532,
against ollama-sim on loopback: Predict over gRPC and /api/generate over the HTTP front door.

Needs root (debootstrap, chroot), podman and debootstrap (scripts/install-deps.sh), and
Debian's package mirror (the runtime stage installs its libraries with apt-get).
"""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import grpc

import harness
from harness import ProcessTestCase, backend_yaml

pb2, pb2_grpc = harness.grpc_modules()

CONTAINERFILE = os.path.join(harness.SOURCE_DIR, "deploy", "container", "Containerfile")
BASE = "docker.io/library/debian:bookworm-slim"
BUILD_BASE = "docker.io/library/debian:bookworm"
TAG = "localhost/ollama-gateway:test"
# Compilers, package builders and headers: none may be in the runtime image.
BUILD_TOOLS = ("usr/bin/gcc", "usr/bin/g++", "usr/bin/cc", "usr/bin/c++", "usr/bin/cmake",
               "usr/bin/ninja", "usr/bin/make", "usr/bin/ld", "usr/bin/protoc",
               "usr/include/grpcpp", "usr/include/c++")


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def debian_mirror():
    """The host's Debian mirror (deb822 or one-line sources), else deb.debian.org."""
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        try:
            with open(path) as f:
                for line in f:
                    words = line.split()
                    if words[:1] == ["URIs:"] and "security" not in words[1]:
                        return words[1]
                    if words[:1] == ["deb"] and "security" not in line:
                        return words[-3] if words[1].startswith("[") else words[1]
        except OSError:
            pass
    return "http://deb.debian.org/debian"


def slim(rootfs):
    """Makes a minbase root like the official bookworm-slim: no downloaded packages, no package
    lists, and no documentation, manual pages or translations now or from later installs."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*",
                    "usr/share/man/*", "usr/share/locale/*", "usr/share/info/*"):
        for path in glob.glob(os.path.join(rootfs, pattern)):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    with open(os.path.join(rootfs, "etc", "dpkg", "dpkg.cfg.d", "slim"), "w") as f:
        f.write("path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n"
                "path-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n"
                "path-exclude /usr/share/info/*\n")


@unittest.skipUnless(os.geteuid() == 0, "needs root for debootstrap and chroot")
@unittest.skipIf(harness.SANITIZED, "the image holds release binaries; a sanitizer build's need "
                 "runtimes the image leaves out (the release run builds and checks it)")
class ImageTest(ProcessTestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("podman", "debootstrap", "strip"):
            if shutil.which(tool) is None:
                raise AssertionError(f"{tool} is not installed (bash scripts/install-deps.sh)")
        cls.work = tempfile.mkdtemp(prefix="og-image-")
        cls.addClassCleanup(shutil.rmtree, cls.work, ignore_errors=True)
        if subprocess.run(["podman", "image", "exists", BASE]).returncode != 0:
            rootfs = os.path.join(cls.work, "base")
            run(["debootstrap", "--variant=minbase", "bookworm", rootfs, debian_mirror()])
            slim(rootfs)
            with subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE) as tar:
                run(["podman", "import", "-", BASE], stdin=tar.stdout)
            shutil.rmtree(rootfs, ignore_errors=True)
        run(["podman", "tag", BASE, BUILD_BASE])
        # The context: the binaries this build made, without their debug sections.
        context = os.path.join(cls.work, "context")
        os.makedirs(os.path.join(context, "prebuilt"))
        for name in ("ollama-gateway", "gatewayctl"):
            run(["strip", "--strip-debug", "-o", os.path.join(context, "prebuilt", name),
                 harness.binary(name)])
        before = set(run(["podman", "images", "-aq"]).stdout.split())
        run(["podman", "build", "--isolation=chroot", "--pull=never", "-q", "-f",
             CONTAINERFILE, "-t", TAG, context], timeout=600)
        # The image and its build stage go afterwards; the base stays for the next run.
        made = set(run(["podman", "images", "-aq"]).stdout.split()) - before
        cls.addClassCleanup(subprocess.run, ["podman", "rmi", "-f", *made], capture_output=True)
        inspect = run(["podman", "image", "inspect", TAG])
        cls.config = json.loads(inspect.stdout)[0]["Config"]
        cls.size = json.loads(inspect.stdout)[0]["Size"]
        # The image's filesystem, as a container of it would see it.
        cls.root = os.path.join(cls.work, "root")
        os.makedirs(cls.root)
        container = run(["podman", "create", TAG]).stdout.strip()
        with subprocess.Popen(["podman", "export", container], stdout=subprocess.PIPE) as export:
            run(["tar", "-C", cls.root, "-x"], stdin=export.stdout)
        run(["podman", "rm", container])

    def test_runs_as_65532_with_the_ports_and_the_config_path(self):
        self.assertEqual(self.config["User"], "65532:65532")
        self.assertEqual(self.config["Entrypoint"], ["/usr/local/bin/ollama-gateway"])
        self.assertEqual(self.config["Cmd"], ["--config", "/etc/ollama-gateway/gateway.yaml"])
        self.assertEqual(set(self.config["ExposedPorts"]), {"50051/tcp", "11500/tcp", "9090/tcp"})
        with open(os.path.join(self.root, "etc", "passwd")) as f:
            self.assertIn("gateway:x:65532:65532:", f.read())
        self.assertTrue(os.path.isdir(os.path.join(self.root, "etc", "ollama-gateway")))

    def test_has_no_build_tools(self):
        present = [p for p in BUILD_TOOLS if os.path.lexists(os.path.join(self.root, p))]
        self.assertEqual(present, [])
        self.assertFalse(os.path.exists(os.path.join(self.root, "var", "lib", "apt", "lists",
                                                     "lock")))
        # About 120 MB: a bound that catches a build stage or debug sections leaking in.
        self.assertLess(self.size, 180_000_000)

    def in_image(self, *argv):
        """argv run inside the image's filesystem as the image's user."""
        return ["chroot", "--userspec=65532:65532", self.root, *argv]

    def test_check_config_runs_as_a_one_shot(self):
        config = os.path.join(self.root, "etc", "ollama-gateway", "check.yaml")
        with open(config, "w") as f:
            f.write("listen:\n  address: 127.0.0.1:0\n  insecure: true\nbackends:\n"
                    + backend_yaml("a", "http://127.0.0.1:1"))
        self.addCleanup(os.remove, config)
        result = subprocess.run(
            self.in_image("/usr/local/bin/ollama-gateway", "--check-config",
                          "/etc/ollama-gateway/check.yaml"), capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("OK (1 backends", result.stdout)

    def test_serves_predict_and_the_http_front_door_from_the_image(self):
        sim = self.sim("gpu-a")
        config = os.path.join(self.root, "etc", "ollama-gateway", "gateway.yaml")
        with open(config, "w") as f:
            f.write("listen:\n  address: 127.0.0.1:0\n  insecure: true\n"
                    "admin:\n  address: 127.0.0.1:0\n"
                    "http:\n  address: 127.0.0.1:0\n  insecure: true\n"
                    "backends:\n" + backend_yaml("gpu-a", sim.url, ["llama3.2"]))
        self.addCleanup(os.remove, config)
        gateway = self.track(harness.Process(
            self.in_image("/usr/local/bin/ollama-gateway", "--config",
                          "/etc/ollama-gateway/gateway.yaml"), "gateway-image"))
        fields = dict(kv.split("=", 1) for kv in gateway.first_line.split()[1:])
        # The process is the image's binary, running as 65532.
        with open(f"/proc/{gateway.proc.pid}/status") as f:
            uid_line = next(line for line in f if line.startswith("Uid:"))
        self.assertEqual(uid_line.split()[1:3], ["65532", "65532"])

        with grpc.insecure_channel(fields["grpc"]) as channel:
            stub = pb2_grpc.ModelInferenceStub(channel)
            response, call = stub.Predict.with_call(
                pb2.InferenceRequest(model_name="llama3.2", input_data=b"hello"), timeout=20)
        self.assertTrue(response.output_data)
        self.assertEqual(dict(call.trailing_metadata())["x-gateway-backend"], "gpu-a")

        answer = harness.http_post_json(f"http://{fields['http']}/api/generate",
                                        {"model": "llama3.2", "prompt": "hi", "stream": False})
        self.assertTrue(answer["done"])
        self.assertTrue(answer["response"])


if __name__ == "__main__":
    unittest.main()

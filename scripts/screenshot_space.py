#!/usr/bin/env python
"""Serve the Gradio Space (`spaces/xmc_demo/app.py`) on loopback and screenshot it with headless Chromium.

The page opens with a text already ranked (the app's `initial_text`), so the PNG shows the bar plot and the table.
Needs Debian's `chromium` (`apt-get install -y chromium`); not part of the test suite.

    python scripts/screenshot_space.py --model CHECKPOINT_FOLDER_OR_REPO_ID [--output docs/space.png]

It prints the checkpoint's evaluation (`xmc_metrics.json`), so whoever regenerates the picture sees what it shows.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_PATH = REPO_ROOT / "spaces" / "xmc_demo" / "app.py"
DEFAULT_TEXT = (
    "A command-line tool written in Python for editing and converting image files, with a GTK graphical interface."
)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip


def load_app():
    spec = importlib.util.spec_from_file_location("xmc_demo_app", APP_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    raise SystemExit("screenshot_space: error: no Chromium found; install it with `apt-get install -y chromium`")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_served(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"screenshot_space: error: the Space did not answer at {url} within {timeout:.0f} s")


def screenshot(url: str, output: Path, width: int, height: int, wait_ms: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hf_xmc_chromium_") as profile:
        command = [
            find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
            f"--virtual-time-budget={wait_ms}", f"--screenshot={output}", url,
        ]  # fmt: skip
        completed = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if completed.returncode != 0 or not output.is_file():
        raise SystemExit(
            f"screenshot_space: error: chromium failed ({completed.returncode}): {completed.stderr[-2000:]}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Checkpoint folder or repo id (default: the app's default).")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="Text ranked in the screenshot.")
    parser.add_argument("--k", type=int, default=8, help="Labels shown.")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "space.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1400)
    parser.add_argument("--wait_ms", type=int, default=20000, help="Virtual time Chromium lets the page run.")
    args = parser.parse_args(argv)

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    app = load_app()
    model = args.model or app.default_model()
    message, _, table = app.predict(args.text, args.k, model)  # fail here, with the app's own message
    if table.empty:
        raise SystemExit(f"screenshot_space: error: {message}")
    demo = app.build_demo(model=model, initial_text=args.text, k=args.k)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_served(url)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        screenshot(url, args.output.resolve(), args.width, args.height, args.wait_ms)
    finally:
        demo.close()
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB) from {model}")
    print(checkpoint_quality(model))
    return 0


def checkpoint_quality(model: str) -> str:
    """One line on the checkpoint's evaluation (`xmc_metrics.json` of a local folder), or why there is none."""
    path = Path(model) / "xmc_metrics.json"
    if not path.is_file():
        return f"{model} has no xmc_metrics.json: its quality is not recorded"
    metrics = json.loads(path.read_text(encoding="utf-8"))
    shown = ", ".join(
        f"{name} {100 * metrics[key]:.2f}"
        for name, key in (("P@1", "P@1"), ("P@5", "P@5"), ("PSP@5", "PSP@5_norm"))
        if isinstance(metrics.get(key), (int, float))
    )
    return f"the checkpoint's {metrics.get('split', 'evaluation')} metrics ({metrics.get('num_examples', '?')} docs): {shown}"


if __name__ == "__main__":
    sys.exit(main())

"""The pictures of docs/studio.md and the README: a real studio session in headless Chromium.

Starts a studio on the bundled sample faces with the default settings (a temporary folder), drops
the bundled ink_wash reference, trains a style from it for one minute through the page, compares the
result with the reference's zero-training style and a bundled style, and opens the A/B view. Every
image in the pictures is made by project code (the sample part tree, the bundled reference).

    python tools/studio_screenshots.py docs/images        # studio.jpg, studio-training.jpg, studio-ab.jpg
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the DevTools driver the browser tests use

from headless_browser import HeadlessPage, find_chromium  # noqa: E402

TOKEN = "docs-screenshots"
WIDTH, HEIGHT = 1400, 960


def _serve(root: Path):
    import uvicorn

    from stylize.studio import open_studio

    opened = open_studio(root / "studio", styles_dir=root / "styles", token=TOKEN, eval_faces=8, poll_seconds=0.5)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(opened.app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return opened, server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _wait(page: HeadlessPage, condition: str, timeout: float = 600.0):
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(f"(() => {{ try {{ return ({condition}); }} catch (e) {{ return null; }} }})()")
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {condition}")
        time.sleep(0.2)


def _grid_ready(page: HeadlessPage) -> None:
    _wait(page, "document.querySelector('#grid').dataset.state === 'ready' && document.querySelector('#grid .cell')")


def _click(page: HeadlessPage, selector: str) -> None:
    x, y = page.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
        " const b = e.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; })()"
    )
    page.click(x, y)


def _set(page: HeadlessPage, selector: str, value: str, event: str = "input") -> None:
    page.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.value = {json.dumps(value)};"
        f" e.dispatchEvent(new Event({json.dumps(event)}, {{bubbles: true}})); }})()"
    )


def _drop(page: HeadlessPage, path: Path) -> None:
    data = base64.b64encode(path.read_bytes()).decode()
    page.evaluate(
        f"""(async () => {{
          const bytes = Uint8Array.from(atob({json.dumps(data)}), c => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], {json.dumps(path.name)}, {{type: 'image/png'}}));
          const zone = document.querySelector('#drop');
          for (const type of ['dragenter', 'dragover', 'drop'])
            zone.dispatchEvent(new DragEvent(type, {{dataTransfer: dt, bubbles: true, cancelable: true}}));
        }})()"""
    )


def _shot(page: HeadlessPage, path: Path) -> None:
    page.evaluate("document.querySelector('#message-close')?.click()")
    time.sleep(0.6)  # let the bars' transitions end
    data = page.call("Page.captureScreenshot", {"format": "jpeg", "quality": 85})["data"]
    path.write_bytes(base64.b64decode(data))
    print(f"-> {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for studio.jpg, studio-training.jpg and studio-ab.jpg")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    from stylize.bundled import asset_path

    with tempfile.TemporaryDirectory() as temp:
        opened, server, thread, base = _serve(Path(temp))
        try:
            with HeadlessPage(chromium, width=WIDTH, height=HEIGHT, timeout=120) as page:
                page.open(f"{base}/?token={TOKEN}")
                page.evaluate("localStorage.clear()")
                page.open(f"{base}/?token={TOKEN}")
                _wait(page, "fetch('/api/state').then(r => r.json()).then(s => s.ready)")
                _grid_ready(page)
                page.evaluate("document.querySelector('#ref-name').value = 'ink-try'")
                _drop(page, asset_path("references/ink_wash.png"))
                _wait(page, "stylizeStudio.state.selected === 'ink-try'")
                _grid_ready(page)
                page.evaluate("document.querySelector('#train-name').value = 'ink-trained'")
                _click(page, "#train-by-minutes")
                _set(page, "#train-minutes", "1")
                _click(page, "#train-go")
                card = ".job[data-state]"
                _wait(page, f"/^step [1-9][0-9]*/.test(document.querySelector('{card} .job-stats')?.textContent)")
                _wait(page, f"document.querySelector('{card} .job-preview')?.naturalWidth > 0")
                time.sleep(8)  # a preview a little way in
                _shot(page, args.out / "studio-training.jpg")
                _wait(page, f"document.querySelector('{card}').dataset.state === 'done'", 900)
                _click(page, f"{card} .job-compare")
                _wait(page, "stylizeStudio.state.compare.includes('ink-trained')")
                _click(page, '.style-item[data-name="pencil"] input[type="checkbox"]')
                page.evaluate("document.activeElement.blur()")
                page.key("u")
                _grid_ready(page)
                page.evaluate("document.querySelector('.main').scrollTop = 0")
                _shot(page, args.out / "studio.jpg")
                _click(page, '.cell[data-row="ink-trained"][data-face="g3"]')
                _wait(page, "document.querySelector('#ab').open && document.querySelector('#ab-img-b').naturalWidth")
                time.sleep(1.0)
                _shot(page, args.out / "studio-ab.jpg")
                if page.exceptions:
                    raise SystemExit(f"the page threw: {page.exceptions}")
        finally:
            server.should_exit = True
            thread.join(60)
            opened.close()


if __name__ == "__main__":
    main()

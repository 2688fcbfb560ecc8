"""The studio page in a real headless Chromium against a real studio server (uvicorn on a free port).

Drives what an artist does: open the printed address, see the grid, drop reference images, move the
sliders, mix, toggle the unstyled row, open the A/B view, get an error line, train through the page.
Skipped when Chromium is missing, unless STYLIZE_REQUIRE_TOOLS=1.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool
from headless_browser import HeadlessPage, find_chromium
from PIL import Image

from studio.conftest import open_tiny_studio

pytestmark = pytest.mark.slow  # drives a browser

TOKEN = "browser-token-0123456789"
STEPS = 40  # the page's training job: tiny steps, enough to see it run


# --- the server and the page ---
@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """A studio serving on 127.0.0.1 in a thread; yields its base address (no token)."""
    import uvicorn

    # a tiny network: the training test takes seconds
    opened = open_tiny_studio(tmp_path_factory.mktemp("studio-browser"), TOKEN, poll_seconds=0.3)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(opened.app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the studio server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        sock.close()
        opened.close()


class ThreadServer:
    """A studio over ``folder`` served in a thread on ``port`` (0: a free one), stopped with :meth:`stop`."""

    def __init__(self, folder: Path, port: int = 0) -> None:
        import uvicorn

        self.opened = open_tiny_studio(folder, None, poll_seconds=0.3)  # the folder's token; tiny trainings
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.uv = uvicorn.Server(uvicorn.Config(self.opened.app, log_level="warning", lifespan="on", access_log=False))
        self.thread = threading.Thread(target=self.uv.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.uv.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the studio server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.uv.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
        self.opened.close()


def _page(width: int = 1400, height: int = 1000) -> HeadlessPage:
    executable = find_chromium()
    require_tool("chromium (Debian package chromium)", executable)
    return HeadlessPage(executable, width=width, height=height, timeout=60)


@pytest.fixture
def page() -> Iterator[HeadlessPage]:
    with _page() as opened:
        yield opened


def open_studio_page(page: HeadlessPage, server: str) -> None:
    """Open the printed address with a clean page memory (the page keeps choices in localStorage)."""
    page.open(f"{server}/?token={TOKEN}")
    page.evaluate("localStorage.clear()")
    page.open(f"{server}/?token={TOKEN}")


def wait_for(page: HeadlessPage, condition: str, timeout: float = 60.0):
    """Evaluate the JS expression ``condition`` until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(
            f"(() => {{ try {{ const v = ({condition}); return v instanceof Node ? true : v; }} catch (e) {{ return null; }} }})()"
        )
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.05)


def grid_ready(page: HeadlessPage, timeout: float = 120.0) -> str:
    """Wait for the grid to settle; return its data-decoded "N/M"."""
    return wait_for(
        page,
        "(() => { const g = document.querySelector('#grid'); return g.dataset.state === 'ready'"
        " && g.querySelector('.cell') && g.dataset.decoded; })()",
        timeout,
    )


def center(page: HeadlessPage, selector: str) -> tuple[float, float]:
    box = page.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
        " const b = e.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; })()"
    )
    return box[0], box[1]


def click(page: HeadlessPage, selector: str) -> None:
    page.click(*center(page, selector))


def drop_images(page: HeadlessPage, selector: str, count: int, seed: int) -> None:
    """Drop ``count`` drawn PNGs (strokes in two inks, distinct per seed) on the element, as a file drag does."""
    page.evaluate(
        f"""(async () => {{
          const dt = new DataTransfer();
          for (let i = 0; i < {count}; i++) {{
            const c = document.createElement('canvas'); c.width = 160; c.height = 128;
            const g = c.getContext('2d'); g.fillStyle = '#ece6da'; g.fillRect(0, 0, 160, 128);
            g.strokeStyle = `hsl(${{({seed} * 97 + i * 40) % 360}}, 60%, 30%)`; g.lineWidth = 2 + i;
            for (let k = -20; k < 40; k++) {{ g.beginPath(); g.moveTo(k * 7, 0); g.lineTo(k * 7 - 60 + {seed} * 9, 128); g.stroke(); }}
            const blob = await new Promise(r => c.toBlob(r, 'image/png'));
            dt.items.add(new File([blob], `ref{seed}-${{i}}.png`, {{type: 'image/png'}}));
          }}
          const zone = document.querySelector({json.dumps(selector)});
          for (const type of ['dragenter', 'dragover', 'drop'])
            zone.dispatchEvent(new DragEvent(type, {{dataTransfer: dt, bubbles: true, cancelable: true}}));
        }})()"""
    )


def set_value(page: HeadlessPage, selector: str, value, event: str = "input") -> None:
    page.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.value = {json.dumps(value)};"
        f" e.dispatchEvent(new Event({json.dumps(event)}, {{bubbles: true}})); }})()"
    )


def press(page: HeadlessPage, key: str, code: str, key_code: int, modifiers: int = 0, text: str = "") -> None:
    """A key press as the keyboard sends it (``modifiers`` 2: Ctrl), with its key code and text."""
    for kind in ("keyDown", "keyUp"):
        event = {"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": key_code, "modifiers": modifiers}
        if text and kind == "keyDown":
            event["text"] = text
        page.call("Input.dispatchKeyEvent", event)


def ctrl_z(page: HeadlessPage) -> None:
    page.evaluate("document.activeElement && document.activeElement.blur()")
    press(page, "z", "KeyZ", 90, modifiers=2)


def message(page: HeadlessPage) -> str:
    return page.evaluate("document.querySelector('#message').textContent")


def cell_sources(page: HeadlessPage, row: str) -> list[str]:
    return page.evaluate(f"[...document.querySelectorAll('.cell[data-row={json.dumps(row)}] img')].map(i => i.src)")


def errors(page: HeadlessPage, allowed: tuple[str, ...] = ()) -> list[str]:
    """Console errors and uncaught exceptions, less the browser's own line for an expected error answer."""
    found = [e["text"] for e in page.console if e["level"] == "error"]
    found = [text for text in found if not any(a in text for a in allowed)]
    return found + page.exceptions


def shot(page: HeadlessPage, tmp_path: Path, name: str) -> Path:
    """A screenshot of this step, in the test's folder, or in $STYLIZE_SCREENSHOTS when set (the docs' pictures)."""
    folder = Path(os.environ.get("STYLIZE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return page.screenshot(folder / f"{name}.png")


# --- the tests ---
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])  # a laptop's window and a desktop's
def test_the_page_opens_drops_the_token_and_renders_the_grid(server, size, tmp_path):
    width, height = size
    with _page(width, height) as page:
        open_studio_page(page, server)
        assert grid_ready(page) == "8/8"  # the default seeds: 8 faces, one style row
        assert "token" not in page.evaluate("location.href")
        cells = page.evaluate(
            "[...document.querySelectorAll('#grid .cell img')].map(i => [i.naturalWidth, i.naturalHeight, i.complete])"
        )
        assert len(cells) == 8 and all(w == 295 and h == 285 and done for w, h, done in cells)
        assert page.evaluate("document.querySelectorAll('#face-strip img').length") == 8
        # everything comes from the studio itself
        sources = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        assert sources and all(s.startswith(server + "/") for s in sources), sources
        # layout: the sidebar beside the main area, nothing wider than the window
        layout = page.evaluate(
            "(() => { const s = document.querySelector('.sidebar').getBoundingClientRect();"
            " const m = document.querySelector('.main').getBoundingClientRect();"
            " const d = document.documentElement;"
            " return [s.width, m.left, m.right, d.scrollWidth, innerWidth, d.scrollHeight, innerHeight]; })()"
        )
        sidebar, main_left, main_right, scroll_width, inner_width, scroll_height, inner_height = layout
        assert 300 <= sidebar <= 360 and main_left >= sidebar - 1 and main_right <= inner_width + 1
        # the sidebar and the main area scroll, not the page
        assert scroll_width <= inner_width and scroll_height <= inner_height
        for section in ("#faces", "#references", "#grid", "#train", "#jobs", "#export"):
            assert page.evaluate(f"!!document.querySelector('{section}')"), section
        # Train and Export are in sight without scrolling (the grid of one row above them)
        for button in ("#train-go", "#export-onnx"):
            bottom = page.evaluate(f"document.querySelector('{button}').getBoundingClientRect().bottom")
            assert bottom <= inner_height, (button, bottom, inner_height)
        shot(page, tmp_path, f"studio-{width}x{height}")
        assert message(page) == ""
        assert errors(page) == []


def test_references_sliders_mix_unstyled_row_and_ab(server, page, tmp_path):
    open_studio_page(page, server)
    grid_ready(page)
    # drop two images: a new zero style, selected, with a grid row
    page.evaluate("document.querySelector('#ref-name').value = 'browser-hatch'")
    drop_images(page, "#drop", 2, seed=1)
    wait_for(page, "stylizeStudio.state.selected === 'browser-hatch'")
    assert grid_ready(page).endswith("/16")
    assert page.evaluate("stylizeStudio.state.compare").count("browser-hatch") == 1
    assert all("style=browser-hatch&" in src for src in cell_sources(page, "browser-hatch"))
    assert (
        page.evaluate("document.querySelector('.style-item[data-name=\"browser-hatch\"]').getAttribute('aria-current')")
        == "true"
    )
    assert page.evaluate("document.querySelectorAll('#drop-thumbs img').length") == 2
    # strength and scale re-render the grid (debounced), with the values in the render address
    set_value(page, "#strength", "0.5")
    assert page.evaluate("document.querySelector('#grid').dataset.state") == "loading"
    grid_ready(page)
    set_value(page, "#scale", "1.5")
    grid_ready(page)
    assert all("strength=0.5&" in s and "scale=1.5" in s for s in cell_sources(page, "browser-hatch"))
    assert page.evaluate("document.querySelector('#scale-value').textContent") == "1.50×"
    # a second reference style, then mix it into the first
    drop_images(page, "#drop", 1, seed=2)
    second = wait_for(page, "stylizeStudio.state.selected.startsWith('ref') && stylizeStudio.state.selected")
    grid_ready(page)
    click(page, '.style-item[data-name="browser-hatch"] .pick')
    wait_for(page, "stylizeStudio.state.selected === 'browser-hatch'")
    click(page, "#mix-on")
    set_value(page, "#mix-style", second, "change")
    set_value(page, "#mix-weight", "0.6")
    grid_ready(page)
    mixed = f"style=browser-hatch%3A0.6%2C{second}%3A0.4&"
    assert all(mixed in s for s in cell_sources(page, "~mix"))  # the mix has its own row...
    assert all("style=browser-hatch&" in s for s in cell_sources(page, "browser-hatch"))  # ...beside its parts
    heads = page.evaluate("[...document.querySelectorAll('#grid .row-head')].map(h => h.dataset.row)")
    at = heads.index("browser-hatch")
    assert heads[at + 1] == "~mix" and second in heads
    assert page.evaluate("document.querySelector('.row-head.mix .mix-note').textContent") == (
        f"browser-hatch 60% + {second} 40%"
    )
    assert page.evaluate("document.querySelector('#grid').dataset.failed") == "0"
    # the U key adds the unstyled row: the face as it is
    rows_before = page.evaluate("document.querySelectorAll('#grid .row-head').length")
    page.evaluate("document.activeElement.blur()")
    page.key("u")
    decoded = grid_ready(page)
    assert page.evaluate("document.querySelectorAll('#grid .row-head').length") == rows_before + 1
    assert decoded == f"{8 * (rows_before + 1)}/{8 * (rows_before + 1)}"
    assert all("/api/face/" in s for s in cell_sources(page, "~unstyled"))
    shot(page, tmp_path, "grid")
    ctrl_z(page)  # the unstyled row was the last action: undone
    wait_for(page, f"document.querySelectorAll('#grid .row-head').length === {rows_before}")
    assert not page.evaluate("stylizeStudio.state.showUnstyled")
    # a click on a cell opens the face full size; its A/B button compares it with the unstyled face
    click(page, '.cell[data-row="browser-hatch"][data-face="g2"]')
    wait_for(page, "document.querySelector('#ab').open && document.querySelector('#ab').dataset.mode === 'one'")
    click(page, "#ab-mode")
    wait_for(page, "document.querySelector('#ab').dataset.mode === 'ab'")
    wait_for(page, "document.querySelector('#ab-tag-b .ab-ref')?.naturalWidth")  # B's reference beside it
    assert page.evaluate("document.querySelector('#ab-tag-a .ab-ref')") is None  # A: unstyled, no reference
    assert page.evaluate("document.querySelector('#ab-tag-a').textContent") == "A · unstyled"
    # B's reference sits beside its name, not over it
    ref_right, name_left = page.evaluate(
        "[document.querySelector('#ab-tag-b .ab-ref').getBoundingClientRect().right,"
        " document.querySelector('#ab-tag-b span').getBoundingClientRect().left]"
    )
    assert ref_right <= name_left
    assert page.evaluate("[document.querySelector('#ab-a').value, document.querySelector('#ab-b').value]") == [
        "~unstyled",
        "browser-hatch",
    ]
    wait_for(page, "document.querySelector('#ab-img-b').complete && document.querySelector('#ab-img-b').naturalWidth")
    stage = page.evaluate(
        "(() => { const b = document.querySelector('#ab-stage').getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; })()"
    )
    assert stage[2] >= 2 * 295 - 1  # enlarged at least 2x at 1400x1000
    # drag the divider to a quarter of the way
    x, y, w, h = stage
    page.call(
        "Input.dispatchMouseEvent",
        {"type": "mousePressed", "x": x + w / 2, "y": y + h / 2, "button": "left", "clickCount": 1},
    )
    page.call(
        "Input.dispatchMouseEvent",
        {"type": "mouseMoved", "x": x + w / 4, "y": y + h / 2, "button": "left", "buttons": 1},
    )
    page.call(
        "Input.dispatchMouseEvent",
        {"type": "mouseReleased", "x": x + w / 4, "y": y + h / 2, "button": "left", "clickCount": 1},
    )
    assert page.evaluate("document.querySelector('#ab-split').getAttribute('aria-valuenow')") == "25"
    shot(page, tmp_path, "ab")
    page.key("Escape")
    wait_for(page, "!document.querySelector('#ab').open")
    assert message(page) == ""
    assert errors(page) == []


def test_a_refused_request_is_one_line_in_the_page(server, page):
    open_studio_page(page, server)
    grid_ready(page)
    set_value(page, "#face-seeds", "0-40", "change")
    text = wait_for(page, "document.querySelector('#message').textContent")
    assert "seeds" in text and "\n" not in text
    assert page.evaluate("document.querySelector('#message').getAttribute('role')") == "alert"
    # no image, no request: training needs a name first
    page.evaluate("document.querySelector('#message-close').click()")
    assert message(page) == ""
    assert errors(page, allowed=("status of 400",)) == []
    assert page.exceptions == []


def test_the_grid_is_saved_as_a_full_size_png(server, page, tmp_path):
    import base64
    import io

    open_studio_page(page, server)
    grid_ready(page)
    page.evaluate(
        "window.__png = null; const make = URL.createObjectURL; URL.createObjectURL = (blob) => {"
        " const reader = new FileReader(); reader.onload = () => { window.__png = reader.result; };"
        " reader.readAsDataURL(blob); return make(blob); }"
    )
    click(page, "#save-grid")
    data = wait_for(page, "window.__png")
    image = Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1])))
    faces = page.evaluate("stylizeStudio.state.faces.length")
    rows = page.evaluate("document.querySelectorAll('#grid .row-head').length")
    assert image.size == (220 + faces * (295 + 6), 30 + rows * (285 + 6))  # each face at full size
    image.save(tmp_path / "saved-grid.png")
    assert "saved the grid" in page.evaluate("document.querySelector('#notice').textContent")
    assert errors(page) == []
    assert page.exceptions == []


def test_the_page_carries_on_when_the_studio_is_restarted(page, tmp_path):
    first = ThreadServer(tmp_path)
    address, token = f"http://127.0.0.1:{first.port}", first.opened.token
    try:
        page.open(f"{address}/?token={token}")
        page.evaluate("localStorage.clear()")
        page.open(f"{address}/?token={token}")
        assert grid_ready(page) == "8/8"
    finally:
        first.stop()
    wait_for(page, "document.body.dataset.server === 'gone'", 30)
    assert "not answering" in message(page) and "reconnects by itself" in message(page)
    shot(page, tmp_path, "server-gone")
    second = ThreadServer(tmp_path, first.port)  # the same folder: the same token, the page's cookie still good
    try:
        assert second.opened.token == token
        wait_for(page, "document.body.dataset.server === 'up'", 30)
        wait_for(page, "document.querySelector('#notice').textContent.includes('reconnected')", 30)
        assert grid_ready(page) == "8/8"
        assert message(page) == ""
        assert page.exceptions == []
    finally:
        second.stop()


def test_a_link_opens_the_same_view(server, page):
    open_studio_page(page, server)
    grid_ready(page)
    set_value(page, "#strength", "0.4")
    click(page, '.style-item[data-name="pencil"] input[type="checkbox"]')
    wait_for(page, "stylizeStudio.state.compare.includes('pencil')")
    grid_ready(page)
    compare = page.evaluate("stylizeStudio.state.compare")
    click(page, "#copy-link")
    link = wait_for(page, "document.querySelector('#copy-link').dataset.link")
    assert "token" not in link and "#view=" in link
    open_studio_page(page, server)  # this browser forgets its choices: the studio's defaults again
    grid_ready(page)
    assert page.evaluate("stylizeStudio.state.strength") == 1
    page.open("about:blank")
    page.open(link)  # the link, opened afresh, brings the view back
    grid_ready(page)
    assert page.evaluate("stylizeStudio.state.strength") == 0.4
    assert page.evaluate("stylizeStudio.state.compare") == compare
    assert page.exceptions == []


def test_a_style_deleted_from_the_page_comes_back_with_undo(server, page, tmp_path):
    open_studio_page(page, server)
    grid_ready(page)
    drop_images(page, "#drop", 1, seed=7)
    name = wait_for(page, "stylizeStudio.state.selected.startsWith('ref7') && stylizeStudio.state.selected")
    assert (
        page.evaluate("document.querySelectorAll('.style-item[data-name=\"pencil\"] .delete').length") == 0
    )  # bundled
    item = f'.style-item[data-name="{name}"]'
    page.evaluate(f"document.querySelector({json.dumps(item)}).scrollIntoView()")
    shot(page, tmp_path, "a-style-of-yours")
    click(page, f'.style-item[data-name="{name}"] .delete')
    wait_for(page, f"!stylizeStudio.state.styles.some(s => s.name === '{name}')")
    assert "deleted" in page.evaluate("document.querySelector('#notice').textContent")
    shot(page, tmp_path, "deleted-with-undo")
    click(page, "#notice button.undo")
    wait_for(page, f"stylizeStudio.state.styles.some(s => s.name === '{name}')")
    assert errors(page) == []
    assert page.exceptions == []


def test_training_from_the_page_shows_a_job_that_survives_a_reload(server, page, tmp_path):
    open_studio_page(page, server)
    grid_ready(page)
    drop_images(page, "#drop", 1, seed=5)
    ref = wait_for(page, "stylizeStudio.state.selected.startsWith('ref') && stylizeStudio.state.selected")
    page.evaluate("document.querySelector('#train-name').value = 'browser-trained'")
    click(page, "#train-by-steps")
    set_value(page, "#train-steps", str(STEPS))
    click(page, "#train-go")
    job_id = wait_for(
        page,
        "[...document.querySelectorAll('.job')].find(j => j.querySelector('.job-name').textContent === 'browser-trained')"
        "?.dataset.id",
    )
    card = f'.job[data-id="{job_id}"]'
    # progress shown while it trains: steps and the loss curve
    wait_for(
        page,
        f"document.querySelector('{card}').dataset.state === 'running'"
        f" && /^step [1-9]/.test(document.querySelector('{card} .job-stats').textContent)"
        f" && document.querySelector('{card} .loss polyline')",
        300,
    )
    shot(page, tmp_path, "training")
    # a second job while the first runs waits in line (its card says so), and leaves the line when cancelled
    page.evaluate("document.querySelector('#train-name').value = 'browser-second'")
    click(page, "#train-go")
    second = wait_for(
        page,
        "[...document.querySelectorAll('.job')].find(j => j.querySelector('.job-name').textContent === 'browser-second'"
        " && j.dataset.state === 'waiting')?.dataset.id",
    )
    waiting = f'.job[data-id="{second}"]'
    assert "waiting in line" in page.evaluate(f"document.querySelector('{waiting} .job-stats').textContent")
    shot(page, tmp_path, "a-job-waiting-in-line")
    click(page, f"{waiting} .job-cancel")
    wait_for(page, f"document.querySelector('{waiting}').dataset.state === 'cancelled'")
    state = wait_for(
        page,
        f"['done', 'failed'].includes(document.querySelector('{card}').dataset.state) && document.querySelector('{card}').dataset.state",
        300,
    )
    assert state == "done", page.evaluate(f"document.querySelector('{card}').innerText")
    assert page.evaluate(f"document.querySelector('{card} .job-stats').textContent").startswith(
        f"step {STEPS} / {STEPS}"
    )
    assert (
        page.evaluate(f"document.querySelector('{card} .loss polyline').getAttribute('points').split(' ').length")
        == STEPS
    )
    wait_for(page, f"document.querySelector('{card} .job-preview').naturalWidth")
    assert f"from {ref}" in page.evaluate(f"document.querySelector('{card}').innerText")
    # its compare button puts the new style in the grid
    wait_for(page, "document.querySelector('.style-item[data-name=\"browser-trained\"]')")
    click(page, f"{card} .job-compare")
    wait_for(page, "stylizeStudio.state.compare.includes('browser-trained')")
    grid_ready(page)
    assert cell_sources(page, "browser-trained")
    # compare it with a bundled style: tick pencil, a row of its own beside the new style's
    click(page, '.style-item[data-name="pencil"] input[type="checkbox"]')
    wait_for(page, "stylizeStudio.state.compare.includes('pencil')")
    decoded = grid_ready(page)
    rows = page.evaluate("[...document.querySelectorAll('#grid .cell')].map(c => c.dataset.row)")
    assert {"browser-trained", "pencil"} <= set(rows)
    assert decoded.split("/")[0] == decoded.split("/")[1] == str(len(rows))
    shot(page, tmp_path, "trained")
    # export the new style as ONNX: a job whose result is a file to download
    set_value(page, "#export-style", "browser-trained", "change")
    click(page, "#export-onnx")
    export_id = wait_for(
        page,
        "[...document.querySelectorAll('.job')].find(j => j.dataset.id !== "
        f"{json.dumps(job_id)} && j.innerText.includes('browser-trained'))?.dataset.id",
    )
    export_card = f'.job[data-id="{export_id}"]'
    state = wait_for(
        page,
        f"['done', 'failed'].includes(document.querySelector('{export_card}').dataset.state)"
        f" && document.querySelector('{export_card}').dataset.state",
        300,
    )
    assert state == "done", page.evaluate(f"document.querySelector('{export_card}').innerText")
    link = page.evaluate(f"document.querySelector('{export_card} a[download]').getAttribute('href')")
    assert link.endswith("/browser-trained.onnx")
    assert "kB" in page.evaluate(f"document.querySelector('{export_card} .files').innerText")
    fetched = page.evaluate(f"fetch({json.dumps(link)}).then(r => r.arrayBuffer()).then(b => b.byteLength)")
    assert fetched > 1000
    shot(page, tmp_path, "exported")
    # the jobs come from the server: a reload shows the same jobs
    page.open(server + "/")
    wait_for(page, f"document.querySelector('{card}') && document.querySelector('{card}').dataset.state === 'done'")
    wait_for(page, f"document.querySelector('{export_card}')?.dataset.state === 'done'")
    grid_ready(page)
    assert errors(page, allowed=("status of 409",)) == []


def job_card(page: HeadlessPage, name: str, kind_text: str = "") -> str:
    """The selector of the newest job card showing ``name`` (and ``kind_text``)."""
    job_id = wait_for(
        page,
        "[...document.querySelectorAll('.job')].find(j => j.innerText.includes("
        f"{json.dumps(name)}) && j.innerText.toLowerCase().includes({json.dumps(kind_text)}))?.dataset.id",
    )
    return f'.job[data-id="{job_id}"]'


def job_done(page: HeadlessPage, card: str, timeout: float = 300) -> None:
    state = wait_for(
        page,
        f"['done', 'failed'].includes(document.querySelector('{card}').dataset.state)"
        f" && document.querySelector('{card}').dataset.state",
        timeout,
    )
    assert state == "done", page.evaluate(f"document.querySelector('{card}').innerText")


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_an_artists_whole_workflow(tmp_path, size):
    """Drop references, rename the style, mix it beside its parts, train it (its phases shown), stop and restart
    the studio with the page open and carry on, save the grid, export the whole cast."""
    width, height = size
    server = ThreadServer(tmp_path)
    address, token, port = f"http://127.0.0.1:{server.port}", server.opened.token, server.port
    shots = tmp_path / "shots"
    try:
        with _page(width, height) as page:
            page.open(f"{address}/?token={token}")
            page.evaluate("localStorage.clear()")
            page.open(f"{address}/?token={token}")
            grid_ready(page)
            # the artist's own portraits go beside the game faces, each named by its file, removable one by one
            drop_images(page, "#face-drop", 2, seed=21)
            wait_for(page, "stylizeStudio.state.faces.length === 10")
            faces = page.evaluate("stylizeStudio.state.faces.map(f => [f.id, f.label])")
            assert [label for _, label in faces[8:]] == ["ref21-0.png", "ref21-1.png"]
            assert [face_id[0] for face_id, _ in faces] == ["g"] * 8 + ["u"] * 2
            assert page.evaluate(
                "[...document.querySelectorAll('#face-strip .added-name')].map(n => n.textContent)"
            ) == [
                "ref21-0.png",
                "ref21-1.png",
            ]
            assert page.evaluate("[...document.querySelectorAll('#grid .col-head')].map(h => h.textContent)")[8:] == [
                "ref21-0.png",
                "ref21-1.png",
            ]
            grid_ready(page)
            page.evaluate("document.querySelector('#faces').scrollIntoView()")
            shot(page, shots, f"workflow-faces-added-{width}")
            click(page, f'#face-strip .added[data-face="{faces[9][0]}"] .remove')
            wait_for(page, "stylizeStudio.state.faces.length === 9")
            grid_ready(page)
            # drop two references: a style named after the first file, renamed by the artist
            drop_images(page, "#drop", 2, seed=11)
            first = wait_for(page, "stylizeStudio.state.selected.startsWith('ref11') && stylizeStudio.state.selected")
            page.evaluate("window.prompt = () => 'my-hatch'")
            click(page, f'.style-item[data-name="{first}"] .rename')
            wait_for(page, "stylizeStudio.state.selected === 'my-hatch'")
            grid_ready(page)
            # undo: a slider, then a rename (renamed back through the server), then the portrait removed
            set_value(page, "#strength", "0.5")
            set_value(page, "#strength", "0.5", "change")
            wait_for(page, "stylizeStudio.history.length && stylizeStudio.history.at(-1).label === 'strength 0.50'")
            ctrl_z(page)
            wait_for(page, "stylizeStudio.state.strength === 1 && document.querySelector('#strength').value === '1'")
            ctrl_z(page)
            wait_for(
                page,
                f"stylizeStudio.state.styles.some(s => s.name === '{first}') && stylizeStudio.state.selected === '{first}'",
            )
            assert "my-hatch" not in page.evaluate("stylizeStudio.state.styles.map(s => s.name)")
            click(page, "#undo")
            wait_for(page, "stylizeStudio.state.faces.length === 10")  # the removed portrait is back beside them
            click(page, f'.style-item[data-name="{first}"] .rename')  # and the name the artist chose again
            wait_for(page, "stylizeStudio.state.selected === 'my-hatch'")
            grid_ready(page)
            # any cell opens its face full size (crisp, whole multiples), with its style and face; Escape closes
            click(page, '.cell[data-row="my-hatch"][data-face="g1"]')
            wait_for(page, "document.querySelector('#ab').open && document.querySelector('#ab').dataset.mode === 'one'")
            wait_for(
                page, "document.querySelector('#ab-img-b').complete && document.querySelector('#ab-img-b').naturalWidth"
            )
            full = page.evaluate(
                "(() => { const s = document.querySelector('#ab-stage'), i = document.querySelector('#ab-img-b');"
                " const b = s.getBoundingClientRect(); return [b.width, b.height, Number(s.dataset.scale),"
                " i.naturalWidth, i.naturalHeight, getComputedStyle(i).imageRendering,"
                " document.querySelector('#ab-caption').textContent, b.bottom <= innerHeight,"
                " getComputedStyle(document.querySelector('#ab-img-a')).display]; })()"
            )
            width_shown, height_shown, scale, natural_w, natural_h, rendering, caption, inside, a_display = full
            assert (natural_w, natural_h) == (295, 285) and scale >= 1 and scale == int(scale)
            assert (width_shown, height_shown) == (295 * scale, 285 * scale) and inside
            assert rendering == "pixelated" and a_display == "none"
            assert caption.startswith("my-hatch · seed 1 · 295×285"), caption
            shot(page, shots, f"workflow-full-size-{width}")
            page.key("Escape")
            wait_for(page, "!document.querySelector('#ab').open")
            page.evaluate('document.querySelector(\'.cell[data-row="my-hatch"][data-face="g2"]\').focus()')
            press(page, "Enter", "Enter", 13, text="\r")  # a focused cell opens with the keyboard too
            wait_for(
                page,
                "document.querySelector('#ab').open && document.querySelector('#ab-caption').textContent.includes('seed 2')",
            )
            page.key("Escape")
            wait_for(page, "!document.querySelector('#ab').open")
            # a second reference mixed into the first: its own row, beside both parts
            drop_images(page, "#drop", 1, seed=12)
            second = wait_for(page, "stylizeStudio.state.selected.startsWith('ref12') && stylizeStudio.state.selected")
            grid_ready(page)
            click(page, '.style-item[data-name="my-hatch"] .pick')
            wait_for(page, "stylizeStudio.state.selected === 'my-hatch'")
            click(page, "#mix-on")
            set_value(page, "#mix-style", second, "change")
            grid_ready(page)
            heads = page.evaluate("[...document.querySelectorAll('#grid .row-head')].map(h => h.dataset.row)")
            assert heads[heads.index("my-hatch") + 1] == "~mix" and second in heads
            # the mix's label is whole (wrapped in its row head, not cut with an ellipsis)
            note = page.evaluate(
                "(() => { const n = document.querySelector('.row-head.mix .mix-note');"
                " return [n.textContent, n.scrollWidth <= n.clientWidth + 1, getComputedStyle(n).textOverflow,"
                " n.getBoundingClientRect().right <= n.closest('.row-head').getBoundingClientRect().right + 1]; })()"
            )
            assert note[0] == f"my-hatch 70% + {second} 30%" and note[1] and note[2] != "ellipsis" and note[3], note
            # a trained style cannot be mixed: the page says why instead of offering it
            shot(page, shots, f"workflow-mix-{width}")
            # train it: the card names its phases while no step is counted, then steps
            page.evaluate("document.querySelector('#train-name').value = 'my-trained'")
            click(page, "#train-by-steps")
            set_value(page, "#train-steps", "200")
            page.evaluate(
                "window.__seen = new Set(); new MutationObserver(() => document.querySelectorAll('.job-stats')"
                ".forEach(s => window.__seen.add(s.textContent))).observe(document.body, {subtree: true, childList: true,"
                " characterData: true})"
            )
            click(page, "#train-go")
            card = job_card(page, "my-trained", "train")
            # stopped before it wrote its style: its folder is listed with its steps, and resumed from there
            wait_for(page, f"/^step [1-9]/.test(document.querySelector('{card} .job-stats').textContent)", 300)
            top = page.evaluate(f"document.querySelector('{card} .job-cancel').getBoundingClientRect().top")
            wait_for(page, f"document.querySelector('{card} .job-preview').naturalWidth", 120)  # the card grows...
            assert page.evaluate(f"document.querySelector('{card} .job-cancel').getBoundingClientRect().top") == top
            click(page, f"{card} .job-cancel")  # ...below its Cancel button, which stays where it was
            wait_for(page, f"document.querySelector('{card}').dataset.state === 'cancelled'", 120)
            stopped = '.stopped-item[data-name="my-trained"]'
            note = wait_for(page, f"document.querySelector('{stopped} .stopped-note')?.textContent", 30)
            shown = page.evaluate(f"document.querySelector('{card} .job-stats').textContent")
            at = shown.split(" / ")[0].replace("step ", "")
            assert note == f"interrupted: {at} steps", (note, shown)
            loss = page.evaluate(f"document.querySelector('{card} .loss-label').textContent")
            assert loss.endswith(f" at step {at}"), loss  # the curve goes to the step it stopped at
            assert page.evaluate(f"!!document.querySelector('{stopped} .resume')")
            page.evaluate(f"document.querySelector({json.dumps(stopped)}).scrollIntoView()")
            shot(page, shots, f"workflow-stopped-{width}")
            click(page, f"{stopped} .resume")
            wait_for(page, f"!document.querySelector('{stopped}')")
            job_done(page, card)
            assert page.evaluate(f"document.querySelector('{card} .job-stats').textContent").startswith(
                "step 200 / 200"
            )
            seen = page.evaluate("[...window.__seen].join(' | ')")
            assert "step " in seen and ("…" in seen), seen  # a named phase (or the worker starting) before steps
            shot(page, shots, f"workflow-trained-{width}")
            # the studio stops and starts again: the page says so, then carries on with the same token
            server.stop()
            wait_for(page, "document.body.dataset.server === 'gone'", 30)
            server = ThreadServer(tmp_path, port)
            wait_for(page, "document.body.dataset.server === 'up'", 30)
            wait_for(page, "stylizeStudio.state.styles.some(s => s.name === 'my-trained')")
            wait_for(page, f"document.querySelector('{card}')?.dataset.state === 'done'")
            grid_ready(page)
            # save the grid as a PNG
            page.evaluate(
                "window.__png = 0; const make = URL.createObjectURL;"
                " URL.createObjectURL = (blob) => { window.__png = blob.size; return make(blob); }"
            )
            click(page, "#save-grid")
            assert wait_for(page, "window.__png") > 10_000
            # export the whole cast of the faces panel's seeds in the trained style
            set_value(page, "#face-seeds", "0-3", "change")
            grid_ready(page)
            set_value(page, "#export-style", "my-trained", "change")
            click(page, "#export-cast")
            cast = job_card(page, "my-trained", "whole cast")
            job_done(page, cast)
            link = page.evaluate(f"document.querySelector('{cast} a[download]').getAttribute('href')")
            assert link.endswith("/my-trained-cast.zip")
            shot(page, shots, f"workflow-cast-{width}")
            # a trained style is not offered for a mix: the page says why in words
            click(page, '.style-item[data-name="my-trained"] .pick')
            wait_for(page, "stylizeStudio.state.selected === 'my-trained'")
            hint = page.evaluate("document.querySelector('#mix-hint').textContent")
            assert hint.startswith("my-trained cannot be mixed: a trained network has no style code to mix"), hint
            assert page.evaluate("document.querySelector('#mix').disabled")
            page.evaluate("document.querySelector('#mix').scrollIntoView()")
            shot(page, shots, f"workflow-cannot-mix-{width}")
            click(page, '.style-item[data-name="my-hatch"] .pick')
            wait_for(page, "stylizeStudio.state.selected === 'my-hatch'")
            option = "#mix-style option[value='my-trained']"
            assert page.evaluate(f"document.querySelector({json.dumps(option)}).disabled")
            assert "cannot mix" in page.evaluate(f"document.querySelector({json.dumps(option)}).textContent")
            assert page.exceptions == []
    finally:
        server.stop()

"""Style x content previews: a grid PNG and a self-contained HTML contact sheet.

``preview(styles, content, out_dir)`` stylizes each content portrait with each style and writes

- ``grid.png``: rows are the portraits, columns the styles; the first row shows each style's
  reference thumbnail and name, the first column the unstyled portrait;
- ``index.html``: the same grid with captions and a click-to-enlarge viewer (arrow keys move
  between cells, Escape closes; ``index.html#view=STYLE/NAME.png`` links to one enlarged cell).
  It needs no network and no other file than the images written beside it:
  ``content/``, ``refs/`` and one folder a style.

The page marks itself ``data-state="ready"`` with ``data-decoded="N/M"`` on ``<body>`` once every
image has decoded, and logs a console error for any image that fails; tests read both.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from stylize.config import PARAMETERS, PipelineConfig, default_config, parameter_default
from stylize.content.sources import (
    ContentFailures,
    Portrait,
    check_sources,
    iter_content,
)
from stylize.errors import StylizeError
from stylize.evaluation.grid import over_checker, style_sheet
from stylize.imageio import atomic_write_text, read_image, write_png
from stylize.inference.image import ApplySettings, stylize_rgb
from stylize.inference.model_file import StyleModel, reference_files
from stylize.inference.styles import load_style, parse_style_names
from stylize.nets.device import resolve_device
from stylize.values import check_setting

GRID_NAME = "grid.png"
HTML_NAME = "index.html"
REFERENCE_LONG_SIDE = 320
DEFAULT_LIMIT = parameter_default("limit")


@dataclass
class PreviewResult:
    out_dir: Path
    grid: Path
    html: Path
    styles: list[str]
    rows: list[str]
    failed: list[str] = field(default_factory=list)


def _file_name(portrait_name: str) -> str:
    """A flat, safe PNG name for a portrait (relative paths keep their folders as ``__``)."""
    stem = portrait_name.rsplit(".", 1)[0] if "." in Path(portrait_name).name else portrait_name
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem.replace("/", "__"))
    return f"{safe or 'portrait'}.png"


def _reference_thumbnail(model: StyleModel) -> np.ndarray:
    files = reference_files(model)
    if not files:
        return np.full((REFERENCE_LONG_SIDE, REFERENCE_LONG_SIDE, 3), 64, np.uint8)
    image = Image.fromarray(read_image(files[0], what="reference").rgb)
    image.thumbnail((REFERENCE_LONG_SIDE, REFERENCE_LONG_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image)


def _style_caption(model: StyleModel) -> str:
    meta = model.metadata
    arch = meta.get("architecture", {}).get("name", "?")
    refs = ", ".join(str(r.get("source_name", r.get("file"))) for r in meta.get("references", []))
    return f"{arch} net, {meta.get('steps', '?')} steps, from {refs or 'no reference'}"


def _columns(
    styles: str | Sequence[str],
    refs: Sequence[str | os.PathLike[str]],
    mix: str | None,
    interpolate: str | None,
    settings: ApplySettings,
    styles_dir: str | os.PathLike[str] | None,
    config: PipelineConfig,
) -> dict[str, tuple[StyleModel, ApplySettings]]:
    """The preview's columns in order: name -> (style, how it is applied)."""
    from dataclasses import replace

    from stylize.inference.reference_style import in_memory_style
    from stylize.inference.styles import interpolation, load_mix

    names = parse_style_names(styles) if (styles if isinstance(styles, str) else list(styles)) else []
    columns = {name: (load_style(name, styles_dir, config), settings) for name in names}
    for ref in refs:
        name = Path(ref).stem or "reference"
        while name in columns:
            name += "_"
        columns[name] = (in_memory_style(name, [ref]), settings)
    if mix:
        model = load_mix(mix, styles_dir, config)
        columns[model.name] = (model, settings)
    if interpolate:
        ends = [part.strip() for part in interpolate.split(",") if part.strip()]
        if not 1 <= len(ends) <= 2:
            raise StylizeError(f"interpolate={interpolate!r}: give A,B or A", params=("interpolate",))
        first = load_style(ends[0], styles_dir, config)
        second = load_style(ends[1], styles_dir, config) if len(ends) == 2 else None
        for label, model, strength in interpolation(first, second):
            columns[label] = (model, replace(settings, strength=settings.strength * strength))
    if not columns:
        raise StylizeError(
            "nothing to preview: name styles, refs, a mix or an interpolation", params=("styles", "refs")
        )
    return columns


def preview(
    styles: str | Sequence[str],
    content: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    limit: int | None = DEFAULT_LIMIT,
    refs: Sequence[str | os.PathLike[str]] = (),
    mix: str | None = None,
    interpolate: str | None = None,
    settings: ApplySettings = ApplySettings(),
    parts: str | os.PathLike[str] | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    device: str = "auto",
    progress: bool = True,
) -> PreviewResult:
    """Write ``grid.png`` and ``index.html`` (with the images beside it) for styles x content.

    Besides named ``styles``, columns may show reference images as zero-training styles (``refs``,
    one column each, no folder written), a ``mix`` ("a:0.7,b:0.3") and an ``interpolate`` row
    ("a,b": a to b in steps of 0.25, one network; "a": the unstyled face to a).
    """
    config = config or default_config()
    if limit is not None:
        check_setting("limit", limit, PARAMETERS["limit"].kind)
    check_sources(content)
    columns = _columns(styles, refs, mix, interpolate, settings, styles_dir, config)
    names = list(columns)
    if any(name in ("content", "refs") for name in names):
        raise StylizeError("a style named 'content' or 'refs' clashes with the preview's own folders; rename the style")
    models = {name: model for name, (model, _) in columns.items()}
    column_settings = {name: setting for name, (_, setting) in columns.items()}
    torch_device = resolve_device(device)
    networks = {name: model.network.to(torch_device) for name, model in models.items()}
    out_path = Path(out_dir)
    failures = ContentFailures()
    portraits: list[Portrait] = []
    for portrait in iter_content(content, parts=parts, config=config, failures=failures):
        portraits.append(portrait)
        if limit is not None and len(portraits) >= limit:
            break
    if not portraits:
        raise StylizeError(
            f"no readable portraits in {', '.join(map(os.fspath, content))}; give compose:0-15 or a folder of images"
        )

    files: list[str] = []
    seen: set[str] = set()
    for portrait in portraits:
        name = _file_name(portrait.name)
        while name in seen:
            name = name[:-4] + "_.png"
        seen.add(name)
        files.append(name)

    shown: list[np.ndarray] = []
    styled: dict[str, list[np.ndarray]] = {name: [] for name in names}
    with tqdm(total=len(portraits) * len(names), desc="preview", unit="img", disable=None if progress else True) as bar:
        for portrait, file_name in zip(portraits, files):
            write_png(out_path / "content" / file_name, portrait.rgb, portrait.alpha)
            shown.append(over_checker(portrait.rgb, portrait.alpha))
            for name in names:
                with torch.inference_mode():
                    rgb = stylize_rgb(networks[name], portrait.rgb, torch_device, column_settings[name])
                write_png(out_path / name / file_name, rgb, portrait.alpha)
                styled[name].append(over_checker(rgb, portrait.alpha))
                bar.update(1)
    references = {name: _reference_thumbnail(models[name]) for name in names}
    for name, thumbnail in references.items():
        write_png(out_path / "refs" / f"{name}.png", thumbnail)
    row_labels = [portrait.name for portrait in portraits]
    grid_path = out_path / GRID_NAME
    write_png(grid_path, np.ascontiguousarray(style_sheet(shown, styled, references, row_labels=row_labels)))
    html_path = out_path / HTML_NAME
    atomic_write_text(
        html_path,
        render_html(
            names, files, row_labels, {n: _style_caption(m) for n, m in models.items()}, [p.source for p in portraits]
        ),
    )
    return PreviewResult(out_path, grid_path, html_path, names, row_labels, [str(err) for err in failures.items])


def render_html(
    styles: Sequence[str],
    files: Sequence[str],
    row_labels: Sequence[str],
    style_captions: dict[str, str],
    sources: Sequence[str],
) -> str:
    """The contact sheet page: images referenced relatively, CSS and script inline, nothing fetched."""

    def src(folder: str, file_name: str) -> str:
        return f"{quote(folder)}/{quote(file_name)}"

    head_cells = ['<th class="corner">content \\ style</th>']
    for style in styles:
        head_cells.append(
            f'<th><button class="cell" data-src="{src("refs", style + ".png")}" data-caption="{html.escape(style)}: reference">'
            f'<img src="{src("refs", style + ".png")}" alt="{html.escape(style)} reference"></button>'
            f'<div class="name">{html.escape(style)}</div><div class="info">{html.escape(style_captions[style])}</div></th>'
        )
    rows = []
    for row, (file_name, label, source) in enumerate(zip(files, row_labels, sources)):
        cells = [
            f'<th scope="row"><button class="cell" data-row="{row}" data-col="0" data-src="{src("content", file_name)}" '
            f'data-caption="{html.escape(label)}: original"><img src="{src("content", file_name)}" '
            f'alt="{html.escape(label)} original"></button><div class="name">{html.escape(label)}</div>'
            f'<div class="info">{html.escape(source)}</div></th>'
        ]
        for col, style in enumerate(styles, start=1):
            caption = f"{label}: {style}"
            cells.append(
                f'<td><button class="cell" data-row="{row}" data-col="{col}" data-src="{src(style, file_name)}" '
                f'data-caption="{html.escape(caption)}"><img src="{src(style, file_name)}" '
                f'alt="{html.escape(caption)}"></button></td>'
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    title = f"stylize preview: {len(styles)} styles x {len(files)} portraits"
    return _PAGE.format(
        title=html.escape(title),
        head="".join(head_cells),
        rows="\n".join(rows),
        styles_json=html.escape(json.dumps(list(styles))),
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  :root {{ color-scheme: dark; --bg: #1e1f24; --fg: #e4e4e8; --dim: #9a9aa6; --cell: 180px; }}
  body {{ margin: 0; padding: 16px; background: var(--bg); color: var(--fg); font: 14px/1.35 system-ui, sans-serif; }}
  h1 {{ font-size: 18px; margin: 0 0 12px; font-weight: 600; }}
  p.help {{ color: var(--dim); margin: 0 0 12px; }}
  table {{ border-collapse: separate; border-spacing: 8px; }}
  th, td {{ vertical-align: top; text-align: left; font-weight: normal; width: var(--cell); }}
  th.corner {{ color: var(--dim); vertical-align: bottom; }}
  .cell {{ display: block; padding: 0; border: 2px solid transparent; border-radius: 4px; cursor: zoom-in;
           background: repeating-conic-gradient(#777 0 25%, #999 0 50%) 0 0 / 16px 16px; }}
  .cell:hover, .cell:focus-visible {{ border-color: #7aa2ff; outline: none; }}
  .cell img {{ display: block; width: var(--cell); height: auto; border-radius: 2px; }}
  thead .cell img {{ height: calc(var(--cell) * 285 / 295); object-fit: cover; }}
  .name {{ font-weight: 600; margin-top: 4px; overflow-wrap: anywhere; }}
  .info {{ color: var(--dim); font-size: 12px; overflow-wrap: anywhere; }}
  #viewer {{ position: fixed; inset: 0; background: rgba(10, 10, 14, 0.92); display: flex; flex-direction: column;
             align-items: center; justify-content: center; gap: 10px; cursor: zoom-out; }}
  #viewer[hidden] {{ display: none; }}
  #viewer img {{ max-width: 92vw; max-height: 84vh; min-width: min(590px, 92vw); image-rendering: auto;
                 background: repeating-conic-gradient(#777 0 25%, #999 0 50%) 0 0 / 24px 24px; }}
  #viewer p {{ margin: 0; }}
</style>
</head>
<body data-state="loading">
<h1>{title}</h1>
<p class="help">Rows: portraits (first column unstyled). Columns: styles (first row: each style's reference).
Click an image to enlarge it; arrow keys move, Escape closes.</p>
<table id="grid" data-styles="{styles_json}">
<thead><tr>{head}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
<div id="viewer" hidden role="dialog" aria-modal="true" aria-label="enlarged image">
  <img id="viewer-image" alt="">
  <p id="viewer-caption"></p>
</div>
<script>
"use strict";
(function () {{
  const viewer = document.getElementById("viewer");
  const big = document.getElementById("viewer-image");
  const caption = document.getElementById("viewer-caption");
  const cells = Array.from(document.querySelectorAll("button.cell"));
  let current = null;

  function show(cell) {{
    current = cell;
    big.src = cell.dataset.src;
    big.alt = cell.dataset.caption;
    caption.textContent = cell.dataset.caption;
    viewer.hidden = false;
  }}
  function hide() {{
    current = null;
    viewer.hidden = true;
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  }}
  function fromHash() {{
    const match = /^#view=(.+)$/.exec(location.hash);
    const cell = match && cells.find(c => c.dataset.src === match[1]);
    if (cell) show(cell); else if (!viewer.hidden) hide();
  }}
  function move(dRow, dCol) {{
    if (!current || current.dataset.row === undefined) return;
    const row = Number(current.dataset.row) + dRow, col = Number(current.dataset.col) + dCol;
    const next = cells.find(c => c.dataset.row === String(row) && c.dataset.col === String(col));
    if (next) location.hash = "view=" + next.dataset.src;
  }}
  cells.forEach(cell => cell.addEventListener("click", () => {{ location.hash = "view=" + cell.dataset.src; }}));
  viewer.addEventListener("click", hide);
  window.addEventListener("hashchange", fromHash);
  document.addEventListener("keydown", event => {{
    if (viewer.hidden) return;
    const moves = {{ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]}};
    if (event.key === "Escape") hide();
    else if (moves[event.key]) {{ event.preventDefault(); move(...moves[event.key]); }}
  }});

  const images = Array.from(document.querySelectorAll("#grid img"));
  Promise.all(images.map(img => img.decode().then(() => true, () => {{
    console.error("image failed to load: " + img.getAttribute("src"));
    return false;
  }}))).then(results => {{
    document.body.dataset.decoded = results.filter(Boolean).length + "/" + images.length;
    document.body.dataset.state = "ready";
  }});
  fromHash();
}})();
</script>
</body>
</html>
"""

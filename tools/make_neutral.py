"""Write stylize/assets/zero_training/neutral.json: the neutral style vector of the zero-training styles.

The mean style vector of eight bundled sample faces (stylize.inference.reference_style.measure_neutral_vector),
recorded with the engine it belongs to and how its predictor runs, so a running stylize need not open the sample tree to get it.

    python tools/make_neutral.py
"""

from __future__ import annotations

from stylize.bundled import asset_path
from stylize.files import write_json
from stylize.inference.arbitrary import PREDICTOR_RUN
from stylize.inference.reference_style import NEUTRAL_ASSET, NEUTRAL_SEEDS, engine_record, measure_neutral_vector


def main() -> int:
    vector = measure_neutral_vector()
    record = {
        "engine": engine_record(),
        "predictor": PREDICTOR_RUN,
        "seeds": NEUTRAL_SEEDS,
        "vector": [round(float(v), 6) for v in vector],
    }
    path = asset_path(NEUTRAL_ASSET)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record, indent=1)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

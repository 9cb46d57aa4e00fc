"""`dvc plots show`/`diff` pages render offline with the vendored Vega and the custom templates.

The end-to-end tests build a tiny DVC repository in a temporary folder (the repo's `.dvc/config` and
`.dvc/plots/`, small CSV/TSV/JSON files, a PNG folder, a `plots:` section using every custom template
and DVC's built-in `linear`), run DVC, and open the page in headless Chromium (tests/support/browser.py):
every declared plot must draw, with no network request, also after the page is moved.
They skip when Chromium is missing, except under CI=true where they fail.
"""

import csv
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image
from support.browser import check_plots_page, render_page, require_chromium
from support.paths import REPO

PLOTS_DIR = REPO / ".dvc" / "plots"
CUSTOM_TEMPLATES = ("confusion_counts", "accuracy_ci", "overlay", "forest", "reliability", "grouped_bars",
                    "per_digit")
MODELS = ("mlp_adam-he", "torch_cnn", "svm_gabor")

DVC_YAML = """\
plots:
  - plots/confusion:
      template: confusion_counts
      x: predicted
      y: actual
      title: Confusion matrix on the test set
  - Test accuracy by model:
      template: accuracy_ci
      x: accuracy
      x_label: test accuracy
      y:
        plots/leaderboard.csv: model
  - plots/overlays/val_loss.csv:
      template: overlay
      x: step
      y: value
      title: Validation loss against updates
      x_label: updates
      y_label: validation loss
  - plots/compare.csv:
      template: forest
      x: diff
      y: question
      title: Paired accuracy differences (95% bootstrap intervals)
      x_label: accuracy difference (A - B)
  - plots/reliability.json:
      template: reliability
      x: confidence
      y: accuracy
      title: Reliability on the test set
  - "DVCLive curves overlaid by model":
      template: overlay
      x: step
      y:
        curves/mlp_adam-he/loss.tsv: loss
        curves/torch_cnn/loss.tsv: loss
  - "DVCLive curves: validation loss (built-in linear template)":
      template: linear
      x: step
      y:
        curves/mlp_adam-he/loss.tsv: loss
        curves/torch_cnn/loss.tsv: loss
  - Label distribution (images per digit in each split):
      template: grouped_bars
      x: digit
      y_label: images
      y:
        plots/label_counts.csv: [train, val, test]
  - Per-class recall on the test set:
      template: per_digit
      x: digit
      y_label: recall
      y:
        plots/per_class.csv: recall
  - plots/gain.csv:
      template: forest
      x: gain
      y: digit
      title: Per-digit gain with intervals (no verdict column)
  - plots/images
  - sweeps/sweep.png
"""


def _write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def write_demo_plots(root: Path, seed: int = 0) -> None:
    """Small plot data in the formats the pipeline writes, varied by ``seed`` (for a diff)."""
    rng = random.Random(seed)
    # per-sample confusion rows (as evaluate writes them) for one model, pre-aggregated counts for another
    samples = []
    for _ in range(400):
        actual = rng.randrange(10)
        predicted = actual if rng.random() < 0.96 else rng.randrange(10)
        samples.append({"actual": actual, "predicted": predicted})
    _write_csv(root / "plots/confusion/torch_cnn.csv", samples)
    counts = [{"actual": a, "predicted": p,
               "count": 90 + rng.randrange(20) if a == p else rng.choice([0, 0, 0, 1, 3])}
              for a in range(10) for p in range(10)]
    _write_csv(root / "plots/confusion/svm_gabor.csv", counts)
    _write_csv(root / "plots/leaderboard.csv", [
        {"model": m, "accuracy": acc, "ci_low": acc - 0.0012, "ci_high": min(acc + 0.001, 1.0)}
        for m, acc in zip(MODELS, (0.9862 + seed / 1000, 0.9911, 0.9931), strict=True)])
    _write_csv(root / "plots/overlays/val_loss.csv", [
        {"model": m, "step": step, "value": round((0.5 + i / 4) / (1 + step / 100) + rng.random() / 50, 5)}
        for i, m in enumerate(MODELS) for step in range(0, 501, 50)])
    _write_csv(root / "plots/compare.csv", [
        {"question": "Do Gabor features beat raw pixels (SVM)?", "diff": 0.0098, "ci_low": 0.0071,
         "ci_high": 0.0125, "verdict": "svm_gabor is more accurate than svm_pixels (Holm p < 0.001)"},
        {"question": "Does the CNN beat the Gabor SVM?", "diff": -0.0020, "ci_low": -0.0041,
         "ci_high": 0.0002, "verdict": "no detectable difference"}])
    bins = [(c + 0.05, min(1.0, c + 0.05 + rng.uniform(-0.08, 0.04))) for c in (x / 10 for x in range(3, 10))]
    (root / "plots/reliability.json").write_text(json.dumps([
        {"model": m, "confidence": round(c, 3), "accuracy": round(a - i / 50, 3), "count": 5 + 40 * k}
        for i, m in enumerate(MODELS) for k, (c, a) in enumerate(bins)]), encoding="utf-8")
    for m in MODELS[:2]:
        _write_csv(root / f"curves/{m}/loss.tsv",
                   [{"step": s, "loss": 1 / (1 + s + rng.random())} for s in range(8)], delimiter="\t")
    _write_csv(root / "plots/label_counts.csv", [
        {"digit": d, "train": 1700 + rng.randrange(300), "val": 180 + rng.randrange(40),
         "test": 900 + rng.randrange(200)} for d in range(10)])
    _write_csv(root / "plots/per_class.csv", [
        {"model": m, "digit": d, "recall": round(0.97 + rng.random() / 40, 4), "support": 100}
        for m in MODELS for d in range(10)])
    _write_csv(root / "plots/gain.csv", [
        {"digit": d, "gain": g, "ci_low": g - 0.004, "ci_high": g + 0.004, "n": 100}
        for d, g in enumerate(0.001 * rng.randrange(-2, 9) for _ in range(10))])
    (root / "plots/images").mkdir(parents=True, exist_ok=True)
    (root / "sweeps").mkdir(parents=True, exist_ok=True)
    for name, shade in (("digits.png", 40 + seed * 50), ("filters.png", 200)):
        Image.new("L", (56, 28), shade).save(root / "plots/images" / name)
    Image.new("L", (56, 28), 120).save(root / "sweeps/sweep.png")


def _run(args: list[str], cwd: Path) -> str:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture
def demo_repo(tmp_path) -> Path:
    """A git + DVC repository with this repo's plot configuration and small data, committed."""
    require_chromium()  # every test that builds one renders it
    root = tmp_path / "repo"
    root.mkdir()
    _run(["git", "init", "-q"], root)
    _run(["dvc", "init", "-q"], root)
    shutil.copyfile(REPO / ".dvc" / "config", root / ".dvc" / "config")
    shutil.copytree(PLOTS_DIR, root / ".dvc" / "plots")
    (root / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    write_demo_plots(root)
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "demo"], root)
    return root


def test_template_is_built_from_the_vendored_files():
    result = subprocess.run([sys.executable, str(PLOTS_DIR / "vendor" / "build_template.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    page = (PLOTS_DIR / "index.html").read_text(encoding="utf-8")
    assert "{plot_divs}" in page and "{scripts}" not in page  # no slot for DVC's CDN script tags
    assert "<script src" not in page


def test_config_sets_the_template():
    config = (REPO / ".dvc" / "config").read_text(encoding="utf-8")
    assert "html_template = plots/index.html" in config  # relative to .dvc/


@pytest.mark.parametrize("name", CUSTOM_TEMPLATES)
def test_custom_templates_load_in_dvc(name):
    from dvc_render.vega_templates import get_template

    template = get_template(name, str(PLOTS_DIR))
    assert template.has_anchor("data") and template.has_anchor("title")
    assert template.content["$schema"].startswith("https://vega.github.io/schema/vega-lite/")


def repo_plots() -> list[tuple[str, dict]]:
    """The top-level ``plots:`` entries of the repository's dvc.yaml, as (id, properties)."""
    config = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    return [next(iter(item.items())) if isinstance(item, dict) else (item, {}) for item in config["plots"]]


def test_the_page_uses_existing_templates_and_files():
    """Every template the page names exists (ours or DVC's), and every image it shows is a stage's
    output or a committed file (reports/*/sweep.png), so `dvc plots show` finds it after `dvc repro`."""
    from dvc_render.vega_templates import TEMPLATES

    builtin = {template.DEFAULT_NAME for template in TEMPLATES}
    config = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    outputs = {next(iter(out)) if isinstance(out, dict) else out
               for stage in config["stages"].values() for out in stage.get("do", stage).get("outs", [])}
    tracked = set(subprocess.run(["git", "ls-files", "reports"], cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout.split())
    for name, props in repo_plots():
        template = (props or {}).get("template")
        assert template is None or template in builtin or (PLOTS_DIR / f"{template}.json").is_file(), name
        if Path(name).suffix == ".png":
            assert name in outputs or name in tracked, f"{name}: neither a stage output nor committed"


def test_one_chart_per_question():
    """A PNG that draws what a chart of the page draws stays off the page (it is for the README and
    docs): the page shows each question once (the plots section's comment says which is which)."""
    names = [name for name, _ in repo_plots()]
    assert "plots/images" not in names  # the folder would bring every PNG, duplicates included
    repeats = {"leaderboard.png", "compare_forest.png", "confusion_matrices.png", "confusion_best.png",
               "reliability.png", "label_distribution.png", "svm_confusion_pixels_vs_gabor.png"}
    assert not [n for n in names if Path(n).name in repeats]
    templates = [props.get("template") for _, props in repo_plots() if props]
    for template in ("grouped_bars", "per_digit", "reliability", "confusion_counts", "forest", "accuracy_ci"):
        assert template in templates
    assert [n for n in names if n.startswith("reports/") and n.endswith("/sweep.png")], "the sweeps"


def test_reliability_template_hides_the_bins_the_png_hides():
    from mnistlab.reporting.figures import MIN_BIN_COUNT

    text = (PLOTS_DIR / "reliability.json").read_text(encoding="utf-8")
    assert f"datum.count >= {MIN_BIN_COUNT}" in text and f"fewer than {MIN_BIN_COUNT} images" in text


def test_plots_show_renders_every_plot_offline(demo_repo, tmp_path):
    require_chromium()
    output = _run(["dvc", "plots", "show"], demo_repo)
    report = check_plots_page(demo_repo, output)
    page = (demo_repo / "dvc_plots" / "index.html").read_text(encoding="utf-8")
    assert "GENERATED by .dvc/plots/vendor/build_template.py" in page
    assert "cdn.jsdelivr.net" not in page

    texts = {plot.id: plot.text for plot in report.plots}
    for model in MODELS:  # one legend entry per model, read from the `model` column
        assert model in texts["plots_overlays_val_loss_csv"]
        assert model in texts["plots_reliability_json"]
    for model in MODELS[:2]:  # without a `model` column: the folder of each overlaid file
        assert model in texts["DVCLive_curves_overlaid_by_model"]
    assert "torch_cnn" in texts["plots_confusion_torch_cnn_csv"]  # the model names its matrix
    assert "svm_gabor" in texts["plots_confusion_svm_gabor_csv"]
    assert "no detectable difference" in texts["plots_compare_csv"]
    for split in ("train", "val", "test"):  # one bar colour per split, named in the legend
        assert split in texts["Label_distribution__images_per_digit_in_each_split_"]
    for model in MODELS:
        assert model in texts["Per-class_recall_on_the_test_set"]
    assert "n = 100" in texts["plots_gain_csv"]  # rows without a verdict show their n
    assert report.plot("sweeps_sweep_png").images_loaded == 1  # an image file of its own

    # the page still works after it is moved to another folder with its static/ images
    moved = tmp_path / "elsewhere" / "report"
    shutil.move(str(demo_repo / "dvc_plots"), str(moved))
    check_plots_page(demo_repo, f"file://{moved / 'index.html'}")


def test_plots_diff_uses_the_same_template(demo_repo, tmp_path):
    require_chromium()
    write_demo_plots(demo_repo, seed=1)
    out = tmp_path / "diff"  # also checks `-o`: images in out/static, the page anywhere
    output = _run(["dvc", "plots", "diff", "HEAD", "-o", str(out)], demo_repo)
    report = check_plots_page(demo_repo, output)
    assert "GENERATED by" in (out / "index.html").read_text(encoding="utf-8")
    overlay = report.plot("plots_overlays_val_loss_csv")
    assert "HEAD" in overlay.text and "workspace" in overlay.text  # one panel per revision


def test_checker_catches_network_use_and_broken_charts(tmp_path):
    require_chromium()
    broken_spec = '{"mark": "bar", "encoding": {"x": {"field": 1}}, "data": 7}'
    page = (PLOTS_DIR / "index.html").read_text(encoding="utf-8").replace("{plot_divs}", f"""
    <div id="bad"><script>vegaEmbed('#bad', {broken_spec});</script></div>
    <div id="remote"><img src="https://example.org/x.png"></div>
    """)
    (tmp_path / "index.html").write_text(page, encoding="utf-8")
    report = render_page(tmp_path / "index.html")
    assert report.external_requests == ["https://example.org/x.png"]
    assert not report.plot("bad").drawn and not report.plot("remote").drawn

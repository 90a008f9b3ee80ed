"""A chapter placed after another (02b after 02) is found, ordered right after it, and selected by its own number
only: `--only 2` or `02` keeps 02 alone, `--only 02b` keeps 02b."""

import nbformat

from helpers.workbook import runner


def test_a_lettered_chapter_follows_its_number(tmp_path):
    for name in ("01_a", "02_b", "02b_c", "03_d", "notes"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / f"{name}.ipynb")
    assert [p.stem for p in runner.discover(folder=tmp_path)] == ["01_a", "02_b", "02b_c", "03_d"]
    assert [p.stem for p in runner.discover(["2"], tmp_path)] == ["02_b"]
    assert [p.stem for p in runner.discover(["02"], tmp_path)] == ["02_b"]
    assert [p.stem for p in runner.discover(["02b", "3"], tmp_path)] == ["02b_c", "03_d"]
    assert [p.stem for p in runner.discover()].index("02b_when_b256_pays") == \
        [p.stem for p in runner.discover()].index("02_train_b256") + 1

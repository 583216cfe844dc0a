import subprocess
import sys

import numpy as np
import pytest

from kanlab.cli import main


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (300, 2))
    y = np.sin(np.pi * x[:, 0]) + x[:, 1] ** 2
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="a,b,y", comments="")
    return path


def test_fit_predict_formula_plot(csv_file, tmp_path, capsys):
    model = tmp_path / "m.kan"
    assert main(["fit", str(csv_file), "--target", "y", "--steps", "20", "--out", str(model)]) == 0
    assert "test RMSE" in capsys.readouterr().out
    assert main(["predict", str(model), str(csv_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "y" and len(lines) == 301
    pred = np.array([float(v) for v in lines[1:]])
    truth = np.loadtxt(csv_file, delimiter=",", skiprows=1)[:, 2]
    assert np.sqrt(np.mean((pred - truth) ** 2)) < 0.05
    assert main(["formula", str(model)]) == 2
    assert "numeric" in capsys.readouterr().err
    assert main(["formula", str(model), "--auto", str(csv_file), "--latex"]) == 0
    assert "\\" in capsys.readouterr().out
    out_png = tmp_path / "net.png"
    assert main(["plot", str(model), str(out_png), "--data", str(csv_file)]) == 0
    assert out_png.stat().st_size > 0


@pytest.mark.parametrize("content,args,message", [
    ("a,b,y\n1,2,3\n", ["--target", "z"], "target column 'z' not found"),
    ("a,b,y\n1,x,3\n2,3,4\n", ["--target", "y"], "line 2, column 'b': 'x' is not a number"),
    ("a,b,y\n1,2\n", ["--target", "y"], "line 2: 2 fields"),
    ("", ["--target", "y"], "is empty"),
    ("a,b,y\n", ["--target", "y"], "no data rows"),
    ("a,b,y\n1,nan,3\n", ["--target", "y"], "NaN"),
    ("a,b,y\n1,2,3\n", ["--target", "y", "--features", "q"], "feature column"),
])
def test_bad_csv_input(tmp_path, capsys, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["fit", str(path), *args, "--out", str(tmp_path / "m.kan")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "m.kan").exists()


def test_bad_model_files(tmp_path, csv_file, capsys):
    (tmp_path / "junk.kan").write_bytes(b"\x00" * 20)
    assert main(["predict", str(tmp_path / "junk.kan"), str(csv_file)]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "none.kan"), str(csv_file)]) == 2
    assert "no such model" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "none.csv"), "--target", "y"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_entry_point_help_and_usage_errors():
    out = subprocess.run([sys.executable, "-m", "kanlab", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "predict" in out.stdout and "formula" in out.stdout
    out = subprocess.run([sys.executable, "-m", "kanlab", "fit"], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "required" in out.stderr


def test_threads_option_sets_this_process_share(csv_file, tmp_path, capsys):
    import torch

    model = tmp_path / "m.kan"
    prev = torch.get_num_threads()
    try:
        assert main(["--threads", "1", "fit", str(csv_file), "--target", "y", "--steps", "2", "--out",
                     str(model)]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(prev)
    with pytest.raises(SystemExit) as err:
        main(["--threads", "0", "predict", str(model), str(csv_file)])
    assert err.value.code == 2 and "--threads" in capsys.readouterr().err


def test_user_errors_are_one_line_and_checked_before_training(csv_file, tmp_path, capsys, monkeypatch):
    """Output paths are checked before any work; --steps 0 and --lamb nan are refused; a BOM does not end up in a
    column name; --auto needs two rows; a save that fails after training keeps the model elsewhere."""
    import os

    import kanlab.model

    missing = tmp_path / "no" / "such"
    started = []
    monkeypatch.setattr(kanlab.model.KAN, "fit", lambda self, *a, **k: started.append(1) or {"test_loss": []})
    assert main(["fit", str(csv_file), "--target", "y", "--out", str(missing / "m.kan")]) == 2
    assert "the folder" in capsys.readouterr().err and not started  # refused before training
    monkeypatch.undo()
    model = tmp_path / "m.kan"
    assert main(["fit", str(csv_file), "--target", "y", "--steps", "2", "--out", str(model)]) == 0
    capsys.readouterr()
    for argv, message in [
        (["predict", str(model), str(csv_file), "--out", str(missing / "p.csv")], "does not exist"),
        (["plot", str(model), str(missing / "net.png")], "does not exist"),
        (["plot", str(model), str(tmp_path)], "it is a folder"),
        (["fit", str(csv_file), "--target", "y", "--steps", "0"], "--steps must be at least 1"),
        (["fit", str(csv_file), "--target", "y", "--lamb", "nan"], "--lamb must be a finite number"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, (argv, err)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffa,b,y\n".encode("utf-8") + csv_file.read_bytes().split(b"\n", 1)[1])
    assert main(["fit", str(bom), "--target", "y", "--features", "a", "b", "--steps", "2",
                 "--out", str(tmp_path / "b.kan")]) == 0
    capsys.readouterr()
    one = tmp_path / "one.csv"
    one.write_text("a,b,y\n0.1,0.2,0.3\n")
    assert main(["formula", str(model), "--auto", str(one)]) == 2
    assert "at least 2 rows" in capsys.readouterr().err
    real_save = kanlab.model.KAN.save
    calls = []

    def flaky_save(self, path, extra=None):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real_save(self, path, extra=extra)

    monkeypatch.setattr(kanlab.model.KAN, "save", flaky_save)
    assert main(["fit", str(csv_file), "--target", "y", "--steps", "2", "--out", str(tmp_path / "x.kan")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "saved to" in err
    rescue = err.strip().rsplit("saved to ", 1)[1].split(" instead")[0]
    assert kanlab.model.KAN.load(rescue).width == [2, 5, 1]
    os.remove(rescue)

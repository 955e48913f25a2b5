from PIL import Image

from vlr_viz.cli import main


def test_features_command_on_a_folder(tmp_path, capsys):
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        Image.new("RGB", (16, 16), colour).save(tmp_path / f"{i}.png")
    (tmp_path / "captions.tsv").write_text("0.png\ta red square\n1.png\ta blue square\n0.png\tred\n")
    assert main(["features", "--dataset", str(tmp_path), "--split", "all", "--cache-dir", str(tmp_path / "cache"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 images, 3 captions" in out and "efficientnet-lite0: 2 x 1280" in out and "minilm-l6: 3 x 384" in out
    assert list((tmp_path / "cache").glob("img-*.npy")) and list((tmp_path / "cache").glob("txt-*.npy"))


def test_features_command_reports_bad_input(tmp_path, capsys):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "captions.tsv").write_text("a.png\t\n")
    assert main(["features", "--dataset", str(tmp_path), "--quiet"]) == 2
    assert "captions.tsv:1: empty caption for image a.png" in capsys.readouterr().err

"""The studio's handlers called directly (no browser needed): the KID curve of a GAN run folder, and a
style network applied to a video."""

import pytest
import torch
from PIL import Image

TINY = dict(g_width=8, d_width=8, z_dim=8)


@pytest.mark.long
def test_the_kid_curve_of_a_run_folder_is_its_measured_kid(tmp_path):
    from artgen import train_gan
    from artgen.studio import Studio
    from artgen.studio.gan_tab import kid_points, plot_kid

    work = tmp_path / "work"
    pics = work / "data" / "pics"
    pics.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for i in range(8):
        arr = (torch.rand(32, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(pics / f"{i}.png")
    gan = train_gan(
        out=work / "runs" / "k",
        data=pics,
        size=32,
        steps=200,
        batch_size=4,
        kid_every=100,  # the first measurement comes at step 200
        sample_every=1000,
        checkpoint_every=1000,
        device="cpu",
        progress=False,
        **TINY,
    )
    measured = [(step, value) for step, values in gan.history.evals for value in values.values()]
    studio = Studio(work, device="cpu")
    points = kid_points(studio, work / "runs" / "k")
    assert [(step, value) for step, value, _ in points] == measured
    assert [step for step, _, _ in points] == [200]
    assert all(name.startswith("kid") for _, _, name in points)
    assert kid_points(studio, work / "runs" / "missing") == []
    picture = plot_kid(points)
    assert picture.size == (600, 320)
    assert plot_kid([]) is None


def test_a_style_network_stylises_every_frame_of_an_uploaded_gif(tmp_path):
    from artgen import UsageError, save_gif, train_fast_style
    from artgen.images import read_metadata
    from artgen.studio import Studio
    from artgen.studio.fast_style_tab import run_apply

    work = tmp_path / "work"
    train_fast_style(
        "swirls",
        None,
        work / "runs" / "net",
        arch="small",
        size=32,
        steps=1,
        batch_size=2,
        backbone="random",
        preview_every=None,
        checkpoint_every=None,
        device="cpu",
        progress=False,
    )
    clip = save_gif(
        torch.rand(5, 3, 24, 40, generator=torch.Generator().manual_seed(1)), tmp_path / "clip.gif", fps=10
    )
    studio = Studio(work, device="cpu")
    picture, video, download, line = run_apply(studio, "runs/net", None, str(clip), 1.0, 0, False, False)
    assert video is None and picture == download
    out = Image.open(picture)
    assert out.n_frames == 5 and out.size == (40, 24)
    assert out.info.get("duration") == 100
    assert "5 frames, 40x24" in line
    meta = read_metadata(picture)
    assert meta["command"] == "studio fast-style apply" and meta["model"] == "runs/net"
    (tmp_path / "clip.txt").write_text("not a clip")
    with pytest.raises(UsageError, match="'clip.txt' is not a video"):
        run_apply(studio, "runs/net", None, str(tmp_path / "clip.txt"), 1.0, 0, False, False)

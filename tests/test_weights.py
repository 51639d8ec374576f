"""Weight files: round trip with metadata, and every kind of bad file is a one-line VsrError, never unpickled."""
import pickle

import pytest
import torch

from vsr import weight_files
from vsr.errors import VsrError
from vsr.model import ESPCN, SCALES
from vsr.upscaler import Upscaler


def one_line_error(path, **kwargs) -> str:
    with pytest.raises(VsrError) as info:
        weight_files.load(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert info.value.exit_code == 1
    return message


@pytest.mark.parametrize("scale", SCALES)
def test_round_trip_keeps_parameters_and_metadata(tmp_path, scale):
    torch.manual_seed(scale)
    model = ESPCN(scale)
    meta = {"training_data": ["T91"], "recipe": {"epochs": 3, "lr": 1e-3}, "metrics": {"Set5": {"psnr": 33.1}}}
    path = tmp_path / f"x{scale}.pt"
    weight_files.save(model, path, meta)
    loaded, got = weight_files.load(path, scale=scale)
    assert loaded.scale == scale and not loaded.training
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert got["training_data"] == ["T91"] and got["recipe"] == {"epochs": 3, "lr": 1e-3}
    assert got["metrics"]["Set5"]["psnr"] == 33.1 and got["scale"] == scale and "saved" in got
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_non_json_metadata_is_stored_as_text(tmp_path):
    path = tmp_path / "w.pt"
    weight_files.save(ESPCN(2), path, {"folder": tmp_path})
    assert weight_files.load(path)[1]["folder"] == str(tmp_path)


def test_file_of_another_scale_is_refused(tmp_path):
    path = tmp_path / "x2.pt"
    weight_files.save(ESPCN(2), path, {})
    assert "x2, not x3" in one_line_error(path, scale=3)


def test_missing_file(tmp_path):
    assert "not found" in one_line_error(tmp_path / "absent.pt")


@pytest.mark.parametrize("content", [b"", b"not a torch file at all\n" * 10, bytes(range(256)) * 4])
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    one_line_error(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "w.pt"
    weight_files.save(ESPCN(3), path, {})
    path.write_bytes(path.read_bytes()[:3000])
    one_line_error(path)


def test_wrong_shapes(tmp_path):
    """An x2 network's tensors in a file that claims x3."""
    path = tmp_path / "w.pt"
    torch.save({"format": weight_files.FORMAT, "scale": 3, "state_dict": ESPCN(2).state_dict(), "meta": {}}, path)
    assert "does not fit ESPCN x3" in one_line_error(path)


def test_missing_tensors_and_missing_state_dict(tmp_path):
    path = tmp_path / "w.pt"
    state = ESPCN(3).state_dict()
    del state["conv2.weight"]
    torch.save({"format": weight_files.FORMAT, "scale": 3, "state_dict": state}, path)
    one_line_error(path)
    torch.save({"format": weight_files.FORMAT, "scale": 3}, path)
    one_line_error(path)


@pytest.mark.parametrize("payload", [ESPCN(3).state_dict(), [1, 2], {"format": "other", "scale": 3},
                                     {"format": weight_files.FORMAT, "scale": 7}])
def test_foreign_payloads(tmp_path, payload):
    path = tmp_path / "w.pt"
    torch.save(payload, path)
    one_line_error(path)


class Trap:
    """Unpickling this would create ``marker``: proof that an arbitrary object was constructed."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("save", ["torch", "pickle"])
def test_arbitrary_objects_are_never_unpickled(tmp_path, save):
    marker = tmp_path / "was-unpickled"
    path = tmp_path / "evil.pt"
    payload = {"format": weight_files.FORMAT, "scale": 3, "state_dict": ESPCN(3).state_dict(), "meta": Trap(marker)}
    if save == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    one_line_error(path)
    assert not marker.exists()


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("tile", [None, 7])
def test_other_widths_round_trip_through_every_backend(tmp_path, backend, tile):
    """A 16/8-wide network saved as a weights file loads at its widths and runs the same on each backend."""
    torch.manual_seed(5)
    model = ESPCN(3, channels=(16, 8)).eval()
    path = tmp_path / "narrow.pt"
    weight_files.save(model, path, {})
    up = Upscaler(3, device="cpu", weights=path, backend=backend, tile=tile)
    assert up.model.channels == (16, 8) and up.backend == backend
    y = torch.rand(2, 1, 19, 23)
    with torch.no_grad():
        want = model(y).clamp(0, 1)
    torch.testing.assert_close(up.upscale_luma_tensor(y), want, rtol=0, atol=1e-5)


def test_shipped_files_load_at_the_papers_widths():
    for scale in SCALES:
        path = weight_files.shipped_path(scale)
        if path.is_file():
            assert weight_files.load(path, scale)[0].channels == (64, 32)

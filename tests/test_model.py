"""ESPCN's architecture and shapes, and that padded inference equals the unpadded network on a padded input."""
import pytest
import torch
import torch.nn.functional as F

from vsr.model import ESPCN, HALO, SCALES


@pytest.mark.parametrize("scale", SCALES)
def test_layers_are_the_papers(scale):
    model = ESPCN(scale)
    shapes = [tuple(conv.weight.shape) for conv in (model.conv1, model.conv2, model.conv3)]
    assert shapes == [(64, 1, 5, 5), (32, 64, 3, 3), (scale * scale, 32, 3, 3)]
    assert sum(p.numel() for p in model.parameters()) == 64 * 25 + 64 + 32 * 64 * 9 + 32 + scale**2 * 32 * 9 + scale**2


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("size", [(1, 1), (7, 11), (16, 9)])
def test_forward_is_scale_times_the_input(scale, size):
    x = torch.rand(2, 1, *size)
    assert ESPCN(scale)(x).shape == (2, 1, scale * size[0], scale * size[1])


@pytest.mark.parametrize("scale", SCALES)
def test_forward_valid_loses_the_halo(scale):
    x = torch.rand(3, 1, 20, 13)
    assert ESPCN(scale).forward_valid(x).shape == (3, 1, scale * (20 - 2 * HALO), scale * (13 - 2 * HALO))


@pytest.mark.parametrize("scale", SCALES)
def test_forward_equals_forward_valid_on_replicate_padded_input(scale):
    torch.manual_seed(0)
    model = ESPCN(scale).eval()
    x = torch.rand(2, 1, 15, 22)
    padded = F.pad(x, (HALO,) * 4, mode="replicate")
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_valid(padded), rtol=0, atol=1e-6)


def test_output_pixel_depends_only_on_the_halo():
    """Changing an input pixel further than HALO away leaves an output pixel unchanged: why tiling is exact."""
    torch.manual_seed(1)
    model = ESPCN(3).eval()
    x = torch.rand(1, 1, 30, 30)
    y = x.clone()
    y[0, 0, 15 + HALO + 1, 15] += 0.5
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.equal(a[0, 0, 45:48, 45:48], b[0, 0, 45:48, 45:48])
    z = x.clone()
    z[0, 0, 15 + HALO, 15] += 0.5
    with torch.no_grad():
        assert not torch.equal(a[0, 0, 45:48, 45:48], model(z)[0, 0, 45:48, 45:48])


@pytest.mark.parametrize("scale", [1, 5, 8])
def test_unsupported_scale_is_refused(scale):
    with pytest.raises(ValueError):
        ESPCN(scale)


def test_widths_are_arguments_and_the_rest_follows():
    """Other channel counts change the layers, the optimizer groups and the description; the halo stays."""
    model = ESPCN(3, channels=(16, 8))
    assert [tuple(c.weight.shape) for c in model.convolutions()] == [(16, 1, 5, 5), (8, 16, 3, 3), (9, 8, 3, 3)]
    assert model.forward_valid(torch.rand(1, 1, 12, 12)).shape == (1, 1, 3 * (12 - 2 * HALO), 3 * (12 - 2 * HALO))
    body, last = model.param_groups(1e-3, 0.1)
    assert body["lr"] == 1e-3 and last["lr"] == pytest.approx(1e-4)
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(body["params"]) == ids([*model.conv1.parameters(), *model.conv2.parameters()])
    assert ids(last["params"]) == ids(model.conv3.parameters())
    assert model.description() == ("ESPCN (Shi et al. 2016): conv5x5 1-16 tanh, conv3x3 16-8 tanh, conv3x3 8-r^2, "
                                   "pixel shuffle")
    assert ESPCN.for_state_dict(3, model.state_dict()).channels == (16, 8)


def test_default_description_is_the_one_weights_files_always_had():
    assert ESPCN(2).description() == ("ESPCN (Shi et al. 2016): conv5x5 1-64 tanh, conv3x3 64-32 tanh, "
                                      "conv3x3 32-r^2, pixel shuffle")


@pytest.mark.parametrize("channels", [(), (8,), (8, 0), (8, 4, 2)])
def test_bad_widths_are_refused(channels):
    with pytest.raises(ValueError):
        ESPCN(3, channels)

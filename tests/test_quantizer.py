"""Product quantizer with Gumbel (PQG): shapes and errors, straight-through codes, balance term, search (FAISS)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vlr_viz.models.quantizer import (ProductQuantizer, balance_entropy, code_dtype, codeword_logits, decode_codes,
                                      pq_shape_for_bits, tau_at_step)


def _unit(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=1)


def _quantizer(dim=16, books=4, k=16, seed=0, **kw):
    return ProductQuantizer(dim, books, k, generator=torch.Generator().manual_seed(seed), **kw)


# -- shapes, bits, dtypes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits,k,expected", [(64, 256, (8, 256)), (32, 256, (4, 256)), (32, 16, (8, 16)),
                                             (16, 65536, (1, 65536)), (6, 2, (6, 2))])
def test_pq_shape_for_bits(bits, k, expected):
    assert pq_shape_for_bits(bits, k) == expected
    m, kk = expected
    assert m * math.log2(kk) == bits


@pytest.mark.parametrize("bits,k,word", [(30, 256, "bits"), (0, 256, "bits"), (64, 100, "num_codewords"),
                                         (64, 2 ** 17, "num_codewords"), (64, 1, "num_codewords")])
def test_pq_shape_for_bits_errors_name_the_parameter(bits, k, word):
    with pytest.raises(ValueError, match=word):
        pq_shape_for_bits(bits, k)


def test_constructor_errors_name_the_parameter():
    with pytest.raises(ValueError, match="num_books"):
        ProductQuantizer(10, 4, 16)  # dim not divisible by M
    with pytest.raises(ValueError, match="bits"):
        ProductQuantizer(16, 4, 256, bits=16)  # 4 · 8 = 32
    with pytest.raises(ValueError, match="num_codewords"):
        ProductQuantizer(16, 4, 48)
    with pytest.raises(ValueError, match="num_codewords"):
        ProductQuantizer(16, 4, 2 ** 20)
    with pytest.raises(ValueError, match="similarity"):
        ProductQuantizer(16, 4, 16, similarity="cosine")
    with pytest.raises(TypeError, match="num_codewords"):
        ProductQuantizer(16, 4, 16.0)


def test_code_dtype_and_from_bits():
    assert code_dtype(256) == torch.uint8 and code_dtype(2) == torch.uint8
    assert code_dtype(512) == torch.uint16 and code_dtype(65536) == torch.uint16
    pq = ProductQuantizer.from_bits(32, 64, 256)
    assert (pq.num_books, pq.num_codewords, pq.bits, pq.sub_dim) == (8, 256, 64, 4)
    x = _unit(5, 32)
    assert pq.encode(x).dtype == torch.uint8 and pq.encode(x).shape == (5, 8)
    big = ProductQuantizer.from_bits(8, 20, 1024)
    codes = big.encode(_unit(3, 8))
    assert codes.dtype == torch.uint16 and codes.shape == (3, 2)
    assert torch.equal(big.decode(codes), decode_codes(codes.long(), big.codebooks.detach()))


def test_tau_schedule_is_exponential():
    assert tau_at_step(0, 1.0, 0.01, 100) == pytest.approx(1.0)
    assert tau_at_step(50, 1.0, 0.01, 100) == pytest.approx(0.1)  # geometric mean half-way
    assert tau_at_step(100, 1.0, 0.01, 100) == pytest.approx(0.01)
    assert tau_at_step(500, 1.0, 0.01, 100) == pytest.approx(0.01)
    pq = _quantizer(tau_start=2.0, tau_end=0.5, tau_decay_steps=4)
    assert pq.tau == pytest.approx(2.0)
    assert pq.step_tau(2) == pytest.approx(1.0)
    assert pq.step_tau(10) == pytest.approx(0.5)


# -- forward pass -----------------------------------------------------------------------------------------------
def test_forward_codes_decode_exactly_to_the_hard_codewords():
    pq = _quantizer(dim=12, books=3, k=8)
    x = _unit(20, 12, seed=1)
    out = pq(x)  # training mode: Gumbel noise
    assert out.codes.shape == (20, 3) and out.quantized.shape == (20, 12)
    cb = pq.codebooks.detach()
    oracle = torch.stack([torch.cat([cb[m, out.codes[b, m]] for m in range(3)]) for b in range(20)])
    assert torch.equal(out.quantized.detach(), oracle)
    assert torch.equal(pq.decode(out.codes), oracle)
    # the hard code is the argmax of the Gumbel soft assignment
    assert torch.equal(out.codes, out.soft.argmax(-1))


def test_eval_codes_are_the_nearest_codewords():
    pq = _quantizer(dim=12, books=3, k=8).eval()
    x = _unit(30, 12, seed=2)
    codes = pq.encode(x).long()
    assert torch.equal(pq(x).codes, codes)
    xs, cb = x.numpy().reshape(30, 3, 4), pq.codebooks.detach().numpy()
    for b in range(30):
        for m in range(3):
            dist = [((xs[b, m] - cb[m, k]) ** 2).sum() for k in range(8)]
            assert codes[b, m] == int(np.argmin(dist))


def test_straight_through_gradient_reaches_input_and_codebooks():
    pq = _quantizer(dim=8, books=2, k=4, tau_start=0.7, tau_end=0.7).eval()  # eval: no noise, exact oracle
    x = _unit(6, 8, seed=3).requires_grad_()
    weights = torch.randn(6, 8, generator=torch.Generator().manual_seed(4))
    (pq(x).quantized * weights).sum().backward()
    assert x.grad.abs().sum() > 0 and pq.codebooks.grad.abs().sum() > 0
    # oracle: backward = gradient of the soft codewords softmax(-s·||x_m - c||² / τ) @ C with C held fixed,
    # plus, for the codebooks, the gradient of the chosen codewords
    x2 = x.detach().clone().requires_grad_()
    cb = pq.codebooks.detach().clone().requires_grad_()
    s = pq.log_logit_scale.detach().exp()
    sub = x2.reshape(6, 2, 4)
    dist = ((sub[:, :, None, :] - cb[None]) ** 2).sum(-1)
    p = torch.softmax(-s * dist / 0.7, dim=-1)
    soft_q = torch.einsum("bmk,mkd->bmd", p, cb.detach())
    codes = dist.argmin(-1)
    chosen = cb[torch.arange(2), codes]
    ((soft_q + chosen).reshape(6, 8) * weights).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(pq.codebooks.grad, cb.grad)
    # codewords nobody picked still move (through the logits)
    picked = torch.zeros(2, 4, dtype=torch.bool)
    picked[torch.arange(2)[None].expand(6, 2), codes] = True
    if (~picked).any():
        assert pq.codebooks.grad[~picked].abs().sum() > 0


# -- balance term -----------------------------------------------------------------------------------------------
def test_balance_entropy_is_one_for_uniform_usage_and_grows_with_uniformity():
    k = 8
    uniform = F.one_hot(torch.arange(64) % k, k).float()[:, None, :]  # (64, 1, 8), each codeword 8 times
    assert balance_entropy(uniform).item() == pytest.approx(1.0)
    collapsed = F.one_hot(torch.zeros(64, dtype=torch.long), k).float()[:, None, :]
    assert balance_entropy(collapsed).item() == pytest.approx(0.0, abs=1e-6)
    values = []
    for used in (1, 2, 4, 8):  # more and more codewords in use
        codes = torch.arange(64) % used
        values.append(balance_entropy(F.one_hot(codes, k).float()[:, None, :]).item())
    assert values == sorted(values) and len(set(np.round(values, 6))) == 4
    # numpy oracle on soft assignments, two books
    p = torch.softmax(torch.randn(10, 2, k, generator=torch.Generator().manual_seed(0)), -1)
    mean = p.numpy().mean(0)
    expected = -(mean * np.log(mean)).sum(1) / np.log(k)
    np.testing.assert_allclose(balance_entropy(p).numpy(), expected, rtol=1e-5)
    assert torch.allclose(_quantizer()(_unit(10, 16)).balance,
                          balance_entropy(_quantizer()(_unit(10, 16)).probabilities))


# -- codebook initialisation and usage --------------------------------------------------------------------------
def test_init_from_data_uses_training_subvectors():
    x = _unit(200, 12, seed=5)
    subs = x.reshape(200, 3, 4)
    pq = _quantizer(dim=12, books=3, k=16).init_from_data(x, method="sample")
    for m in range(3):
        diff = (pq.codebooks.detach()[m][:, None, :] - subs[None, :, m]).abs().amax(-1)
        assert (diff.min(1).values == 0).all()
    # k-means finds one codeword per well separated cluster
    centres = torch.eye(4) * 10
    pts = centres.repeat_interleave(25, 0) + 0.01 * torch.randn(100, 4, generator=torch.Generator().manual_seed(1))
    pq = ProductQuantizer(4, 1, 4).init_from_data(pts, method="kmeans", generator=torch.Generator().manual_seed(2))
    nearest_centre = torch.cdist(pq.codebooks.detach()[0], centres).argmin(1)
    assert sorted(nearest_centre.tolist()) == [0, 1, 2, 3]
    # the same seed gives the same codebooks
    again = ProductQuantizer(4, 1, 4).init_from_data(pts, method="kmeans", generator=torch.Generator().manual_seed(2))
    assert torch.equal(again.codebooks, pq.codebooks)
    # fewer vectors than codewords: padded, still finite
    small = _quantizer(dim=12, books=3, k=16).init_from_data(x[:5])
    assert torch.isfinite(small.codebooks).all()
    with pytest.raises(ValueError, match="method"):
        _quantizer().init_from_data(_unit(20, 16), method="kmeans++")


def test_codeword_usage_counts_encoded_codes():
    pq = _quantizer(dim=12, books=3, k=8)
    x = _unit(50, 12, seed=6)
    usage = pq.codeword_usage(x)
    codes = pq.encode(x).numpy()
    for m in range(3):
        assert usage[m].tolist() == np.bincount(codes[:, m], minlength=8).tolist()


# -- search ------------------------------------------------------------------------------------------------------
def test_distance_logits_rank_like_squared_distances():
    # the logits leave out s·||x_m||², constant per sub-vector: the softmax over codewords is unchanged
    pq = _quantizer(dim=8, books=2, k=4)
    x = _unit(5, 8, seed=9)
    sub, cb = x.reshape(5, 2, 4), pq.codebooks.detach()
    dist = ((sub[:, :, None, :] - cb[None]) ** 2).sum(-1)
    s = pq.log_logit_scale.exp().item()
    torch.testing.assert_close(torch.softmax(pq.logits(x), -1), torch.softmax(-s * dist, -1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(codeword_logits(sub, cb, 2.0, "dot"), 2.0 * torch.einsum("bmd,mkd->bmk", sub, cb))


def test_search_ranking_equals_decode_then_brute_force():
    pq = _quantizer(dim=16, books=4, k=256)
    g = torch.Generator().manual_seed(0)
    pq.codebooks.data = torch.randn(4, 256, 4, generator=g)
    codes = torch.randint(0, 256, (400, 4), generator=g).to(torch.uint8)
    q = torch.randn(6, 16, generator=g)
    scores, idx = pq.search(q, codes, k=10)
    decoded = pq.decode(codes).numpy()
    for i in range(6):
        brute = [float(q[i].numpy() @ decoded[j]) for j in range(400)]
        order = sorted(range(400), key=lambda j: -brute[j])[:10]
        assert idx[i].tolist() == order
        np.testing.assert_allclose(scores[i], [brute[j] for j in order], rtol=1e-5, atol=1e-5)


def test_straight_through_backward_is_identical_at_two_threads():
    # at this size the backward of an indexed gather (an accumulating index_put) added in thread order
    from vlr_viz.train.threads import torch_threads

    g = torch.Generator().manual_seed(0)
    pq = ProductQuantizer(128, 8, 16, generator=g, gumbel_noise=False).eval()
    pq.codebooks.data = torch.randn(8, 16, 16, generator=g) * 0.1
    x = _unit(512, 128, seed=1)
    w = torch.randn(512, 128, generator=g)
    grads = []
    with torch_threads(2):
        for _ in range(4):
            pq.codebooks.grad = None
            (pq(x).quantized * w).sum().backward()
            grads.append(pq.codebooks.grad.clone())
    assert all(torch.equal(grads[0], other) for other in grads[1:])


def test_search_and_decode_errors():
    pq = _quantizer(k=256)
    q = _unit(2, 16)
    with pytest.raises(ValueError, match="empty"):
        pq.search(q, torch.empty(0, 4, dtype=torch.uint8), k=1)
    codes = pq.encode(_unit(5, 16))
    with pytest.raises(ValueError, match="k must"):
        pq.search(q, codes, k=6)
    with pytest.raises(ValueError, match="k must"):
        pq.search(q, codes, k=0)
    with pytest.raises(ValueError, match="dimension"):
        pq.search(_unit(2, 8), codes, k=1)
    with pytest.raises(ValueError, match="M·8"):
        _quantizer(k=16).search(q, _quantizer(k=16).encode(_unit(5, 16)), k=1)
    with pytest.raises(ValueError, match="codes must have shape"):
        pq.decode(codes[:, :3])
    with pytest.raises(ValueError, match="codes must lie"):
        pq.decode(torch.full((2, 4), 256))
    with pytest.raises(TypeError, match="integer"):
        pq.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="x must"):
        pq(_unit(2, 8))

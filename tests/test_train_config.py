"""TrainConfig validation and serialisation."""
import json

import pytest

from vlr_viz.losses import DEFAULT_WEIGHTS
from vlr_viz.train import TrainConfig


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "itm"}, "unknown method 'itm'"),
    ({"weights": {"kd_loss": -1.0}}, r"weights\['kd_loss'\] must be a non-negative number"),
    ({"weights": {"kd": 1.0}}, r"unknown loss term.*'kd'"),
    ({"lambda_param": "raw", "init_lambda": 1.5}, r"init_lambda.*\[0, 1\].*start"),
    ({"lambda_param": "sigmoid", "init_lambda": 0.0}, r"init_lambda.*\(0, 1\)"),
    ({"batch_size": 1}, "batch_size"),
    ({"epochs_stage1": 0, "epochs_stage2": 0}, "at least 1"),
    ({"epochs_stage2": -1}, "epochs_stage2"),
    ({"lr": 0.0}, "lr"),
    ({"tau2": -0.1}, "tau2"),
    ({"distance": "l1"}, "unknown distance"),
    ({"student_relation": "cross"}, "unknown student_relation"),
    ({"lambda_mode": "oracle"}, "unknown lambda_mode"),
    ({"warmup_frac": 1.0}, "warmup_frac"),
    ({"dropout": 1.0}, "dropout"),
    ({"init_tau": 0.001}, "init_tau"),
    ({"covlr_alpha": -0.5}, "covlr_alpha"),
])
def test_invalid_configs_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_defaults_are_the_authors_weights():
    cfg = TrainConfig()
    assert cfg.weights == DEFAULT_WEIGHTS
    assert cfg.weights == {"match_loss": 1, "rep_img_loss": 1, "rep_txt_loss": 2, "kd_loss": 2, "kd_v_loss": 1,
                           "kd_t_loss": 1}
    assert (cfg.epochs_stage1, cfg.epochs_stage2, cfg.weight_decay, cfg.warmup_frac) == (10, 10, 0.01, 0.1)
    assert cfg.epochs == 20


def test_partial_weights_fill_in_defaults():
    cfg = TrainConfig(weights={"kd_loss": 0.5})
    assert cfg.weights["kd_loss"] == 0.5 and cfg.weights["rep_txt_loss"] == 2.0


def test_json_round_trip_and_unknown_field():
    cfg = TrainConfig(method="covlr", seed=3, weights={"kd_loss": 0.25}, tau2=0.1)
    again = TrainConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({"methd": "sad"})


def test_repr_states_structure_weight_with_tau2():
    r = repr(TrainConfig(method="sad", tau2=0.05, weights={"kd_loss": 3.0}))
    assert "kd 3," in r and "at tau2=0.05" in r
    assert "tau2" not in repr(TrainConfig(method="baseline"))

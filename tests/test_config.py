"""config.config_from_flags: build-dataset's flags -> BuildConfig (issue 11: the flag -> config
mapping moved out of cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geoscribe.config import config_from_flags, make_config
from geoscribe.errors import InputError


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "options.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_flags_override_yaml(tmp_path):
    """issue 11: a flag given wins over the YAML file; a flag not given leaves its value."""
    yaml_file = write_yaml(tmp_path, "seed: 3\nchip_size: 96\nimagery: [a.tif]\nlimit: 7\n")
    cfg = config_from_flags("skyscript-like", "demo", tmp_path / "o", yaml_file,
                            chip_size=128, seed=None, imagery=[], limit=None, workers=2)
    assert (cfg.chip_size, cfg.seed, cfg.imagery, cfg.limit, cfg.workers) == \
        (128, 3, ["a.tif"], 7, 2)
    assert (cfg.recipe, cfg.region, cfg.out) == ("skyscript-like", "demo", tmp_path / "o")


def test_positional_values_override_yaml(tmp_path):
    """issue 11: RECIPE, --region and --out beat the same keys in the YAML file."""
    yaml_file = write_yaml(tmp_path, "recipe: rsvqa-like\nregion: '0,0,1,1'\nout: elsewhere\n")
    cfg = config_from_flags("skyscript-like", "demo", tmp_path / "o", yaml_file)
    assert (cfg.recipe, cfg.region, cfg.out) == ("skyscript-like", "demo", tmp_path / "o")


def test_parsed_flags(tmp_path):
    """issue 11: --qa-types and --split-fractions are parsed into their config fields."""
    cfg = config_from_flags("rsvqa-like", "demo", tmp_path / "o", None,
                            qa_types="presence=2, count=0.5", split_fractions="0.6,0.2,0.2")
    assert cfg.qa_weights == {"presence": 2.0, "count": 0.5}
    assert cfg.split_fractions == (0.6, 0.2, 0.2)


def test_resolve_sees_merged_values(tmp_path):
    """issue 11: `resolve` (the engine's demo expansion) gets YAML + flags before validation."""
    seen = {}

    def resolve(values: dict) -> dict:
        seen.update(values)
        return {**values, "imagery": ["resolved.tif"]}

    yaml_file = write_yaml(tmp_path, "seed: 5\n")
    cfg = config_from_flags("skyscript-like", "demo", tmp_path / "o", yaml_file,
                            resolve=resolve, margin=0.5, overwrite=True)
    assert seen["seed"] == 5 and seen["margin"] == 0.5 and seen["overwrite"] is True
    assert cfg.imagery == ["resolved.tif"]


@pytest.mark.parametrize(("flag", "value"), [
    ("qa_types", "presence"), ("qa_types", "presence=two"),
    ("split_fractions", "0.8,x,0.1"), ("split_fractions", "0.8;0.1;0.1"),
])
def test_bad_parsed_flag_is_one_line(tmp_path, flag, value):
    """issue 11: a malformed --qa-types / --split-fractions is a one-line InputError naming it."""
    with pytest.raises(InputError) as info:
        config_from_flags("rsvqa-like", "demo", tmp_path / "o", None, **{flag: value})
    assert info.value.what == "--" + flag.replace("_", "-")
    assert repr(value) in str(info.value) and "\n" not in str(info.value)


def test_bad_yaml_value_names_the_option(tmp_path):
    """issue 11: a YAML value the model rejects is a one-line error naming its option."""
    yaml_file = write_yaml(tmp_path, "chip_size: 3\n")
    with pytest.raises(InputError) as info:
        config_from_flags("skyscript-like", "demo", tmp_path / "o", yaml_file)
    assert info.value.what == "--chip-size" and "\n" not in str(info.value)


def test_stac_url_credentials_stay_out_of_the_run_record(tmp_path):
    """issue 18 (stac): the run file's config and the output fingerprint name the STAC API and
    the token endpoint in their public form (credentials change no output)."""
    def config(user: str):
        return config_from_flags(
            "skyscript-like", "0,0,1,1", tmp_path, None, collection="s2",
            imagery=[f"stac:https://{user}@h.org/stac?key={user}"],
            stac_sign=f"planetary-computer:https://{user}@h.org/token")

    dump = config("bob:pw1").public_dump()
    assert dump["imagery"] == ["stac:https://h.org/stac"]
    assert dump["stac_sign"] == "planetary-computer:https://h.org/token"
    assert "pw1" not in str(dump)
    assert config("bob:pw1").output_fingerprint({}) == config("eve:pw2").output_fingerprint({})


def test_card_lists_stac_options_only_when_set(tmp_path):
    """issue 18 (stac): a build without STAC lists none of its options on the card; one with
    STAC lists the collection and cloud limit it searched."""
    plain = config_from_flags("skyscript-like", "0,0,1,1", tmp_path, None).card_options()
    assert not {"collection", "datetime", "max_cloud", "asset"} & set(plain)
    stac = config_from_flags("skyscript-like", "0,0,1,1", tmp_path, None, collection="s2",
                             imagery=["stac:https://h/stac"], max_cloud=5.0).card_options()
    assert (stac["collection"], stac["max_cloud"]) == ("s2", 5.0) and "datetime" not in stac


def test_executor_ray_and_its_address_are_options_and_the_address_is_not_recorded():
    """issue 19: --executor local|ray; --ray-address only with ray, and kept out of the run
    file's config (a machine's address) and of the output fingerprint."""
    base = dict(recipe="skyscript-like", region="demo", out=Path("/tmp/x"))
    ray = make_config(**base, executor="ray", ray_address="10.0.0.1:6379")
    assert "ray_address" not in ray.public_dump()
    assert ray.output_fingerprint({}) == make_config(**base).output_fingerprint({})
    with pytest.raises(InputError, match="--ray-address.*needs --executor ray"):
        make_config(**base, ray_address="10.0.0.1:6379")
    with pytest.raises(InputError, match="--executor.*local or ray"):
        make_config(**base, executor="spark")

"""Pricing files: presets, field-by-field overrides, and errors that name the file, the field and the reason."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from costwarden import yamlfile
from costwarden.catalogue import tables
from exporter import config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pricing.yml"
    path.write_text(text)
    return path


def test_embedded_default_needs_no_file() -> None:
    table = config.load(None)
    assert (table.provider, table.plan, table.currency) == ("digitalocean", "s-1vcpu-1gb", "USD")


def test_every_preset_resolves_and_carries_a_source() -> None:
    presets = config._presets()
    for provider, spec in presets.items():
        assert spec["source"].startswith("https://"), provider
        assert spec["as_of"], provider
        for plan in spec["plans"]:
            assert config.resolve({"provider": provider, "plan": plan}).plan == plan


def test_user_file_overrides_field_by_field(tmp_path: Path) -> None:
    table = config.load(
        write(
            tmp_path,
            "provider: hetzner\nplan: cx32\nregion: fsn1\nbudget: {monthly: 15}\negress: {included_gib: 1024}\n",
        )
    )
    assert table.egress.included_gib == 1024
    assert table.egress.overage_per_gib == 0.001  # untouched sibling keeps the preset's value
    assert table.machine.vcpus == 4
    assert table.budget.monthly == 15
    assert table.region == "fsn1"


def test_custom_table(tmp_path: Path) -> None:
    text = """
provider: custom
plan: my-box
currency: GBP
machine: {vcpus: 3, memory_gib: 6, disk_gib: 100}
plan_price: {hourly: 0.02, monthly: 12}
"""
    table = config.load(write(tmp_path, text))
    assert (table.currency, table.machine.vcpus, table.plan_price.monthly) == ("GBP", 3, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("provider: nimbus\n", "field provider: unknown provider 'nimbus'"),
        ("provider: hetzner\nplan: cx999\n", "field plan: unknown hetzner plan 'cx999'"),
        (
            "provider: hetzner\nplan: cx22\negress: {included_gib: -5}\n",
            "field egress.included_gib: must be ≥ 0, got -5",
        ),
        ("provider: hetzner\nplan: cx22\ncurrency: euro\n", "field currency: 'euro' does not match [A-Z]{3}"),
        ("provider: hetzner\nplan: cx22\nbilling: {timezone: Mars/Olympus}\n", "unknown time zone 'Mars/Olympus'"),
        ("provider: hetzner\nplan: cx22\nbilling: {cycle_day: 31}\n", "field billing.cycle_day: must be ≤ 28, got 31"),
        (
            "provider: hetzner\nplan: cx22\nbudgett: {monthly: 3}\n",
            "field budgett: unknown field; did you mean budget? (known: machine, plan_price, provider",
        ),
        ("provider: custom\nmachine: {vcpus: 1, memory_gib: 1, disk_gib: 1}\n", "field plan_price: required"),
        ("- a\n- b\n", "expected a mapping"),
        (
            "provider: hetzner\nplan: cx22\nextras: {volumes: [{name: a, size_gib: 0, per_gib_month: 1}]}\n",
            "field extras.volumes[0].size_gib: must be > 0, got 0",
        ),
        (
            "provider: hetzner\nplan: cx22\nextras: {ips: {count: 1.5}}\n",
            "field extras.ips.count: expected a whole number",
        ),
        (
            "provider: hetzner\nplan: cx22\nbudget: {monthly: true}\n",
            "field budget.monthly: expected a number, got True",
        ),
        ("provider: hetzner\nplan: cx22\nregion: 5\n", "field region: expected a string, got 5"),
        ("provider: [unclosed\n", "not valid YAML at line 2"),
        # Found in a new-user trial: YAML keeps a repeated key's last value, so the first was dropped without a word.
        (
            "provider: hetzner\nplan: cx22\nbudget: {monthly: 10}\nbudget: {monthly: 20}\n",
            "not valid YAML at line 4, column 1: 'budget' is written twice (first on line 3); only the last would "
            "count",
        ),
        ("provider: hetzner\nplan: [1]\n", "field plan: unknown hetzner plan [1]"),
        (
            "provider: hetzner\nplan: cx22\nplan_price: {hourly: .inf}\n",
            "field plan_price.hourly: expected a finite number, got inf",
        ),
        ("provider: hetzner\nplan: cx22\nbudget: {monthly: .nan}\n", "field budget.monthly: expected a finite number"),
        (
            "provider: custom\nmachine: {vcpus: 1, memory_gib: 1, disk_gib: 1000}\nplan_price: {hourly: 0.001}\n"
            "unit_prices: {disk_per_gib_month: 1}\n",
            "field unit_prices.disk_per_gib_month: the plan's disk alone",
        ),
    ],
)
def test_bad_files_name_file_field_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert re.match(rf"{re.escape(str(path))}(:\d+)?: ", message), message
    assert expected in message


def test_errors_point_at_the_line_and_guess_the_meaning(tmp_path: Path) -> None:
    """Issue 20: value errors gave no line and no "did you mean" (budjet, CX22); an empty file said "field machine:
    required"."""
    path = write(tmp_path, "provider: hetzner\nplan: cx22\n\nbudget:\n  monthly: lots\n")
    with pytest.raises(config.ConfigError, match=r"pricing\.yml:5: field budget\.monthly: expected a number"):
        config.load(path)
    path = write(tmp_path, "provider: hetzner\nplan: cx22\nbudjet: {monthly: 5}\n")
    with pytest.raises(config.ConfigError, match=r"pricing\.yml:3: field budjet: unknown field; did you mean budget\?"):
        config.load(path)
    path = write(tmp_path, "provider: Hetzner\nplan: CX22\n")  # as the provider's console writes them
    table = config.load(path)
    assert (table.provider, table.plan) == ("hetzner", "cx22")
    path = write(tmp_path, "provider: hetzner\nplan: cx-22\n")
    with pytest.raises(config.ConfigError, match=r"pricing\.yml:2: field plan: unknown hetzner plan 'cx-22'; did you "
                                                 r"mean cx22"):  # fmt: skip
        config.load(path)
    path = write(tmp_path, "")
    with pytest.raises(config.ConfigError, match=r"the file is empty: give at least provider and plan"):
        config.load(path)
    path = write(tmp_path, "region: fsn1\n")
    with pytest.raises(config.ConfigError, match=r"field provider: required: one of digitalocean, ec2, hetzner"):
        config.load(path)


def test_errors_in_chinese_from_the_language_setting_or_the_locale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: the exporter's errors were English only."""
    monkeypatch.setenv("COSTWARDEN_LANGUAGE", "zh")
    path = write(tmp_path, "provider: hetzner\nplan: cx22\nbudjet: {monthly: 5}\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert (
        str(info.value)
        == f"{path}:3：字段 budjet：未知字段；是不是想写 budget？（已知字段：" + str(info.value).split("已知字段：")[1]
    )
    # Found in a new-user trial: without a close name the hint's semicolon stood alone before the known fields.
    path.write_text("provider: hetzner\nplan: cx22\nzzzzzz: 1\n")
    with pytest.raises(config.ConfigError, match=re.escape("字段 zzzzzz：未知字段（已知字段：")):
        config.load(path)
    path = write(tmp_path, "provider: hetzner\nplan: cx-22\n")
    with pytest.raises(
        config.ConfigError, match=r"pricing\.yml:2：字段 plan：未知的 hetzner 套餐 'cx-22'；是不是想写 cx22"
    ):
        config.load(path)
    path = write(tmp_path, "provider: hetzner\nplan: cx22\nbudget: {monthly: -3}\n")
    with pytest.raises(config.ConfigError, match=r"pricing\.yml:3：字段 budget\.monthly：应大于 0，实际是 -3"):
        config.load(path)
    path = write(tmp_path, "provider: hetzner\nplan: [cx22\n")
    with pytest.raises(config.ConfigError, match=r"pricing\.yml：不是合法的 YAML（第 3 行，第 1 列）："):
        config.load(path)
    # The locale alone (no COSTWARDEN_LANGUAGE), through the real command line: the billing API's missing key pair.
    path = write(tmp_path, "provider: lighthouse\nplan: general-2c2g-40g\nprovider_api: {enabled: true}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSTWARDEN_", "TENCENTCLOUD_", "LC_"))}
    proc = subprocess.run([sys.executable, "-m", "exporter", "--config.file", str(path), "--config.check"],
                          capture_output=True, text=True, timeout=30, env={**env, "LANG": "zh_CN.UTF-8"})  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (f"costwarden-exporter: {path}:3：字段 provider_api.enabled：tencent API 需要"
                           "一个只读 CAM 子用户的密钥，放在环境变量 TENCENTCLOUD_SECRET_ID 和 "
                           "TENCENTCLOUD_SECRET_KEY 里（或放在它们的 _FILE 指向的文件里）\n")  # fmt: skip


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "pricing.yml"
    path.write_bytes("provider: hetzner\nregion: 'n\u00fcrnberg'\n".encode("latin-1"))
    with pytest.raises(config.ConfigError, match=r"pricing\.yml: not UTF-8 text \(byte 28\)"):
        config.load(path)


@pytest.mark.parametrize(
    ("text", "english", "chinese"),
    [
        ("a: b: c\n", "a value holding ': ' needs quotes", "值里带有 ': ' 时要加引号"),
        ("a:\n  b: 1\n c: 2\n", "indented like nothing above it", "缩进和上面的任何字段都对不齐"),
        ("a:\n\tb: 1\n", "YAML indents with spaces only", "YAML 只能用空格缩进"),
        ("a: [1, 2\n", "not closed with ]", "没有用 ] 结束"),
        ("a: {b: 1\n", "not closed with }", "没有用 } 结束"),
        ('a: "x\n', "a quote is not closed", "引号没有闭合"),
        ("a: @x\n", "cannot begin with @ or `", "开头的值要加引号"),
    ],
)
def test_the_parsers_usual_complaints_say_what_to_do(
    text: str, english: str, chinese: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a new-user trial: a Chinese sentence ended in the parser's English ("expected <block end>, but found
    ':'"); what it usually means is said first now, in either language, and the parser's words kept after it."""
    for language, said in (("en", english), ("zh", chinese)):
        monkeypatch.setenv("COSTWARDEN_LANGUAGE", language)
        with pytest.raises(yamlfile.YamlFileError) as raised:
            yamlfile.loads(text, "pricing.yml")
        assert said in str(raised.value), str(raised.value)


def test_a_repeated_key_is_refused_but_a_merge_that_is_overridden_is_not() -> None:
    """The reader refuses `budget:` written twice (YAML would drop the first); a key merged in with `<<` and set
    again is an override, as YAML means it — also when the anchored mapping has a merge of its own (review
    finding: flattening changes a node in place, and its merged keys looked written twice)."""
    for text in ("x:\n  a: &m\n    <<: {p: 1}\n    p: 2\nz:\n  <<: *m\n",
                 "base: &b {a: 1, b: 2}\nover:\n  <<: *b\n  b: 3\n",
                 "a: &a {k: 1}\nb: &b {<<: *a, j: 2}\nc: {<<: [*a, *b], k: 9}\n"):  # fmt: skip
        assert yamlfile.loads(text, "t") == yaml.safe_load(text), text
    for text, line in (("a: 1\nb: {c: 1, c: 2}\n", 2), ("l:\n  - {x: 1}\n  - {y: 1, y: 2}\n", 3),
                       ("over:\n  <<: {a: 1}\n  b: 1\n  b: 2\n", 4)):  # fmt: skip
        with pytest.raises(yamlfile.YamlFileError, match=f"at line {line}, .*written twice"):
            yamlfile.loads(text, "t")


def test_missing_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTWARDEN_LANGUAGE", "en")
    with pytest.raises(config.ConfigError, match=r"nope\.yml: cannot read: No such file"):
        config.load(tmp_path / "nope.yml")
    # Found in a new-user trial: the system's English ("No such file or directory") in a Chinese sentence.
    monkeypatch.setenv("COSTWARDEN_LANGUAGE", "zh")
    with pytest.raises(config.ConfigError, match=r"nope\.yml：无法读取：文件或目录不存在$"):
        config.load(tmp_path / "nope.yml")
    (tmp_path / "dir.yml").mkdir()
    with pytest.raises(config.ConfigError, match=r"dir\.yml：无法读取：这是一个目录$"):
        config.load(tmp_path / "dir.yml")
    assert set(tables("zh")["os_errors"]) <= set(errno.errorcode.values())  # each one a name the system uses


def test_cli_refuses_to_start_on_a_bad_file(tmp_path: Path) -> None:
    path = write(tmp_path, "provider: hetzner\nplan: cx22\nplan_price: {hourly: free}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert f"{path}:3: field plan_price.hourly: expected a number, got 'free'" in proc.stderr


def test_cli_config_check_prints_resolved_prices(tmp_path: Path) -> None:
    import json

    path = write(tmp_path, "provider: linode\nplan: g6-standard-2\nbudget: {monthly: 30}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(path), "--config.check"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    resolved = json.loads(proc.stdout)
    assert resolved["budget"]["monthly"] == 30
    assert resolved["full_machine_hourly"] == pytest.approx(0.036)


def test_config_check_fails_where_the_start_would_and_says_it_once(tmp_path: Path) -> None:
    """Issue 20: `--config.check` passed with provider_api on and no token, then the real start exited 2; and every
    start-up error was printed twice (logged and printed on the same terminal)."""
    path = write(tmp_path, "provider: hetzner\nplan: cx22\nprovider_api: {enabled: true}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTWARDEN_PROVIDER_TOKEN")}
    for extra in (["--config.check"], []):
        proc = subprocess.run([sys.executable, "-m", "exporter", "--config.file", str(path), *extra],
                              capture_output=True, text=True, timeout=30, env=env)  # fmt: skip
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.count("needs a read-only token in COSTWARDEN_PROVIDER_TOKEN") == 1, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_documented_example_loads() -> None:
    table = config.load(Path(__file__).parents[2] / "docs" / "examples" / "pricing.yml")
    assert (table.provider, table.plan, table.budget.monthly) == ("hetzner", "cx22", 8.0)
    assert table.extras.volumes[0].size_gib == 50
    assert table.provider_api.enabled and table.api == "hetzner" and table.provider_api.server == "vps1"

"""The CPU smoke path of benchmarks/alexnet_gpu.py (issue 14): the 227×227 2012 network fed by the
folder pipeline from generated JPEGs, fp32 and bf16 autocast with channels_last; the peak table;
and the device check's refusal without a GPU."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def benchmark():
    spec = importlib.util.spec_from_file_location("alexnet_gpu", ROOT / "benchmarks" / "alexnet_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_smoke_runs_every_mode_on_real_and_synthetic_data(tmp_path, capsys):
    results = benchmark().main(["--smoke", "--work", str(tmp_path), "--json", str(tmp_path / "out.json")])
    assert json.loads((tmp_path / "out.json").read_text())["smoke"] is True
    rows = results["throughput"]["rows"]
    assert {(r["mode"], r["data"]) for r in rows} == {
        (m, d) for m in ("fp32 eager", "bf16 + channels_last") for d in ("synthetic", "real")}
    assert all(r["images_per_s"] > 0 and r["ran"] == "eager" for r in rows)
    out = capsys.readouterr().out
    assert "TINY configuration" in out and "40 images" in out and "unknown" in out
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1  # the generated JPEGs were cached


def test_the_2012_network_takes_227_and_bf16_channels_last_on_the_cpu():
    from course_lib.models.alexnet import AlexNet

    torch.manual_seed(0)
    model = AlexNet("2012", num_classes=10).eval()
    x = torch.randn(1, 3, 227, 227)
    with torch.no_grad():
        fp32 = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model_cl(x.contiguous(memory_format=torch.channels_last))
    assert fp32.shape == bf16.shape == (1, 10) and bf16.dtype == torch.bfloat16
    torch.testing.assert_close(bf16.float(), fp32, atol=0.05 * fp32.abs().max().item() + 1e-3, rtol=0.05)


@pytest.mark.parametrize("name, peak", [("NVIDIA H200", 989.0), ("NVIDIA H100 80GB HBM3", 989.0),
                                        ("NVIDIA H100 PCIe", 756.0), ("NVIDIA A100-SXM4-80GB", 312.0),
                                        ("NVIDIA L4", 121.0), ("Tesla V100-SXM2-16GB", None)])
def test_peak_table_knows_devices_by_name_and_says_unknown_otherwise(name, peak):
    assert benchmark().peak_bf16(name) == peak


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_device_check_refuses_without_cuda_and_still_leaves_its_file(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "CUDA_VISIBLE_DEVICES": "", "DEVICE_CHECK_ALLOW_CPU": "0",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "No CUDA device" in done.stdout
    with tarfile.open(tmp_path / "device-check.tar.gz") as tar:
        assert "./summary.txt" in tar.getnames()

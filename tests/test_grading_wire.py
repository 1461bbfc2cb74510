"""The grader's line to the kernel, without a kernel: the wire format and test cells judged in
the grader against a stand-in kernel namespace (the bridge's own code, called in-process)."""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib.grading import bridge, wire
from course_lib.grading.remote import KernelGone, KernelLine, RemoteObject, run_test_cell
from course_lib.grading.testing import GraderFault, TestFailure, call, is_module, layer_trace

# --------------------------------------------------------------------------- the wire format

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.tuples(inner, inner)
                      | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4),
                      max_leaves=20)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(values)
def test_plain_data_crosses_unchanged_with_its_exact_types(value):
    back = wire.loads(wire.dumps(value))
    assert back == value
    assert _types(back) == _types(value)


def _types(value):
    if isinstance(value, (list, tuple)):
        return (type(value), [_types(v) for v in value])
    if isinstance(value, dict):
        return (dict, [(_types(k), _types(v)) for k, v in value.items()])
    return type(value)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int16", "int64", "float16", "float32",
                                   "float64", "complex64"])
def test_arrays_cross_with_dtype_shape_and_values(dtype):
    x = (np.arange(12).reshape(3, 4) % 3).astype(dtype)[:, ::2]  # a non-contiguous view too
    back = wire.loads(wire.dumps(x))
    assert type(back) is np.ndarray and back.dtype == x.dtype and np.array_equal(back, x)


def test_nan_inf_and_big_integers_cross():
    back = wire.loads(wire.dumps([math.nan, -math.inf, 10 ** 40, np.float32(1.5)]))
    assert math.isnan(back[0]) and back[1] == -math.inf and back[2] == 10 ** 40
    assert back[3] == np.float32(1.5) and type(back[3]) is np.float32


def test_tensors_devices_and_dtypes_cross():
    t = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)
    back = wire.loads(wire.dumps([t, torch.device("cpu"), torch.float16, torch.Size([2, 3])]))
    assert back[0].dtype == torch.bfloat16 and torch.equal(back[0], t)
    assert back[1:] == [torch.device("cpu"), torch.float16, (2, 3)]


def test_an_array_subclass_arrives_as_a_plain_array():
    class Anything(np.ndarray):
        def __eq__(self, other):
            return True

    back = wire.loads(wire.dumps(np.zeros(3).view(Anything)))
    assert type(back) is np.ndarray and not np.array_equal(back, np.ones(3))


def test_objects_cannot_cross_without_a_handle_and_pickles_are_refused():
    with pytest.raises(wire.WireError, match="cannot be sent"):
        wire.dumps(object())
    with pytest.raises(wire.WireError, match="objects"):
        wire.dumps(np.array([object()]))
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import base64
    forged = {"t": "ndarray", "v": base64.b64encode(buffer.getvalue()).decode()}
    with pytest.raises(ValueError):  # np.load refuses object arrays without allow_pickle
        wire.decode(forged)


@pytest.mark.parametrize("message", [[], {"t": 3}, {"t": "int", "v": 3}, {"t": "exec", "v": "x"},
                                     {"t": "dict", "v": [[{"t": "list", "v": []}, {"t": "v", "v": 1}]]},
                                     {"t": "handle", "id": 1}])
def test_malformed_messages_are_refused(message):
    with pytest.raises(wire.WireError):
        wire.decode(message)


def test_a_grader_network_travels_as_layers_and_weights():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, groups=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1),
                        nn.Flatten(), nn.Dropout(0.5), nn.Linear(4, 2))
    net[4].eval()
    copy = wire.loads(wire.dumps(net, modules=True))
    assert copy.training and not copy[4].training
    x = torch.randn(2, 3, 8, 8)
    net.eval(), copy.eval()
    assert torch.equal(net(x), copy(x))


def test_a_custom_network_is_refused():
    class Sneaky(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(wire.WireError, match="Sneaky"):
        wire.dumps(nn.Sequential(Sneaky()), modules=True)


# --------------------------------------------------------------------------- judged in the grader

@pytest.fixture
def kernel(monkeypatch):
    """A stand-in kernel: a namespace answered by the bridge's own code, in this process."""
    namespace: dict = {}
    monkeypatch.setattr(bridge, "_namespace", lambda: namespace)

    def send(request: str, timeout: float) -> str:
        return bridge.reply(request)

    return namespace, KernelLine(send)


def run(source, line):
    return run_test_cell(source, line, "test")


def test_a_correct_function_passes_and_a_wrong_one_fails_with_the_graders_message(kernel):
    namespace, line = kernel
    test = ("import numpy as np\nfrom course_lib.grading.testing import call, check_array\n"
            "check_array(call(f, np.arange(3.0)), np.arange(3.0) * 2, 'f(x)')\n")
    namespace["f"] = lambda x: x * 2
    assert run(test, line).passed
    namespace["f"] = lambda x: x * 3
    verdict = run(test, line)
    assert not verdict.passed and "f(x): wrong value at index (1,)" in verdict.message


def test_tampering_in_the_kernel_cannot_reach_the_graders_numpy(kernel):
    namespace, line = kernel
    namespace.update(np=np, f=lambda x: x)  # the student's np is this process's np here...
    test = "import numpy as np\nassert np.isclose(f(1.0), 2.0), 'f(1) should be 2'\n"
    verdict = run(test, line)
    assert not verdict.passed and verdict.message == "f(1) should be 2"


def test_a_missing_function_names_the_fix(kernel):
    verdict = run("f(1)\n", kernel[1])
    assert not verdict.passed and "'f' is not defined" in verdict.message and "run the cell" in verdict.message


def test_student_errors_arrive_by_name(kernel):
    namespace, line = kernel

    def broken(x):
        raise KeyError("oops")

    def stub(x):
        raise NotImplementedError()

    namespace.update(broken=broken, stub=stub)
    test = "from course_lib.grading.testing import call\ncall({}, 1)\n"
    assert "raised KeyError: 'oops'" in run(test.format("broken"), line).message
    assert "not implemented yet" in run(test.format("stub"), line).message


def test_data_arrives_as_a_copy_and_objects_stay_behind_handles(kernel):
    namespace, line = kernel
    namespace.update(answers={"F1": "blur"}, net=nn.Linear(2, 1), mod=np)
    test = ("assert answers == {'F1': 'blur'}\n"
            "from course_lib.grading.testing import is_module\n"
            "assert is_module(net) and type(net).__name__ == 'RemoteObject'\n"
            "assert sum(p.numel() for p in net.parameters()) == 3\n"
            "assert tuple(net(__import__('torch').zeros(4, 2)).shape) == (4, 1)\n"
            "assert mod.__name__ == 'numpy'\n")
    assert run(test, line).passed


def test_models_answer_trace_and_probe_questions_where_they_live(kernel):
    namespace, line = kernel
    namespace["build"] = lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Dropout(0.25))

    def train(model, steps):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(torch.zeros(1, 1, 5, 5))
        return steps

    namespace["train"] = train
    test = ("import torch\nfrom torch import nn\n"
            "from course_lib.grading.testing import call, call_probed, layer_trace\n"
            "trace = layer_trace(call(build), torch.zeros(1, 1, 5, 5))\n"
            "assert trace == [('Conv2d', (2, 3, 3), 1), ('Dropout', (18,), 0.25)], trace\n"
            "steps, seen = call_probed(train, nn.Sequential(nn.Conv2d(1, 2, 3)), 7, layer=0)\n"
            "assert steps == 7 and seen['layer_dtypes'] == ['bfloat16'] and seen['has_grads'], seen\n")
    verdict = run(test, line)
    assert verdict.passed, verdict.message


def test_a_grader_fault_and_a_dead_kernel_are_not_test_failures(kernel):
    _, line = kernel
    with pytest.raises(GraderFault):
        run("from course_lib.grading.testing import GraderFault\nraise GraderFault('no MNIST')\n", line)

    def dead(code, timeout):
        raise KernelGone("the kernel died")

    with pytest.raises(KernelGone):
        run("f(1)\n", KernelLine(dead))


def test_a_kernel_that_does_not_answer_fails_the_test_only():
    verdict = run("f(1)\n", KernelLine(lambda code, timeout: None))
    assert not verdict.passed and "did not answer" in verdict.message


def test_the_kernel_never_receives_the_tests_source(kernel):
    namespace, _ = kernel
    sent = []

    def spy(request, timeout):
        sent.append(request)
        return bridge.reply(request)

    namespace["f"] = lambda x: x + 1
    secret = "HIDDEN_INPUT_MARKER"
    test = f"# {secret}\nfrom course_lib.grading.testing import call\nassert call(f, 41) == 42\n"
    assert run(test, KernelLine(spy)).passed
    assert sent and not any(secret in request for request in sent)


def test_visible_tests_fail_in_one_line_in_the_students_kernel():
    with pytest.raises(TestFailure) as info:
        call(lambda: 1 / 0, what="f()")
    assert info.value._render_traceback_() == ["\x1b[0;31mTest failed:\x1b[0m f() raised ZeroDivisionError: division by zero"]
    assert layer_trace(nn.Sequential(nn.Linear(2, 3)), torch.zeros(1, 2)) == [("Linear", (3,), None)]
    assert is_module(nn.ReLU()) and not is_module(3)
    assert not isinstance(RemoteObject, type(None))


# --------------------------------------------------------------------------- hostile replies

def _answering(reply: dict) -> KernelLine:
    """A kernel whose (tampered) bridge sends ``reply`` to every request."""
    return KernelLine(lambda request, timeout: json.dumps(reply))


def test_a_module_name_from_the_kernel_is_imported_only_when_it_is_trusted_exactly():
    # importing numpy.f2py.__main__ would run f2py and call sys.exit in the grader
    for name in ("numpy.f2py.__main__", "torch.utils.model_dump.__main__", "os", "numpyx"):
        line = _answering({"ok": True, "names": {"np": {"kind": "module", "name": name}}})
        verdict = run("assert np.pi > 3\n", line)
        assert not verdict.passed and verdict.ename == "NameError", (name, verdict)
    line = _answering({"ok": True, "names": {"np": {"kind": "module", "name": "numpy"}}})
    assert run("assert np.pi > 3\n", line).passed


def test_a_system_exit_inside_a_test_is_a_failed_test_not_the_graders_end(kernel):
    verdict = run("raise SystemExit(0)\n", kernel[1])
    assert not verdict.passed and verdict.ename == "SystemExit"


def test_the_grader_never_builds_a_torch_module_the_kernel_describes():
    torch = pytest.importorskip("torch")
    # a well-formed module; one naming Linear(60000, 60000) would cost the grader 14 GB
    small = wire.encode(torch.nn.Sequential(torch.nn.Linear(3, 2)), modules=True)
    assert isinstance(wire.decode(small), torch.nn.Sequential)  # the kernel may build it
    line = _answering({"ok": True, "names": {"model": {"kind": "data", "value": small}}})
    verdict = run("model\n", line)
    assert not verdict.passed and verdict.ename == "WireError", verdict


def test_a_reply_that_would_explode_in_memory_is_refused(monkeypatch):
    from course_lib.grading import remote

    monkeypatch.setattr(remote, "MAX_CONTAINERS", 1000)
    line = KernelLine(lambda request, timeout: '{"ok": true, "names": {"x": ' + "[{}," * 600 + "{}]}}")
    verdict = run("x\n", line)
    assert not verdict.passed and "too large" in verdict.message, verdict

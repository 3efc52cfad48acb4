"""automl verify's verdicts: tolerances, and the control that says when a re-timing can be believed."""

from __future__ import annotations

from automl.verify import TOLERANCES, Check


def _check(ratio_reported: float, ratio_measured: float, control: float | None) -> Check:
    return Check(trial="3", size_reported=100, size_on_disk=100, val_reported=0.9, val_measured=0.9,
                 test_reported=0.9, test_measured=0.9, ratio_reported=ratio_reported,
                 ratio_measured=ratio_measured, latency_ms_reported=0.01, latency_ms_measured=0.01,
                 samples={"val": 200, "test": 200}, control_ratio=control)


def test_a_ratio_within_tolerance_passes_whatever_the_control():
    assert _check(1.0, 1.0 + TOLERANCES["latency_ratio_rel"] * 0.9, 0.8).failures() == []


def test_a_ratio_outside_tolerance_fails_and_a_trusted_control_says_nothing_more():
    (failure,) = _check(1.0, 1.3, 1.01).failures()
    assert failure == "latency ratio 1.300 measured, 1.000 reported"


def test_an_off_control_marks_a_latency_failure_inconclusive():
    c = _check(1.0, 1.3, 0.80)
    assert not c.timing_trusted()
    (failure,) = c.failures()
    assert failure.startswith("latency ratio 1.300 measured, 1.000 reported (inconclusive: a copy of the teacher "
                              "timed 0.800x")
    assert c.to_dict()["control_ratio"] == 0.80


def test_a_latency_failure_names_the_teachers_drift_when_its_own_time_moved():
    # a 4.6 MB teacher ran 1.68 ms during a study and 1.06 ms at verify: the 10 KB students' ratios moved
    c = _check(0.042, 0.052, 1.00)
    c.teacher_drift = 1.06 / 1.68
    (failure,) = c.failures()
    assert failure.startswith("latency ratio 0.052 measured, 0.042 reported (the teacher ran 0.63x its study time")
    c.teacher_drift = 1.05  # within the tolerance: nothing to explain
    assert c.failures() == ["latency ratio 0.052 measured, 0.042 reported"]
    c.teacher_drift, c.control_ratio = 0.63, 0.80  # an untrusted control is the first thing to say
    assert "inconclusive" in c.failures()[0] and "study time" not in c.failures()[0]
    assert _check(1.0, 1.0, 1.0).failures() == [] and c.to_dict()["teacher_drift"] == 0.63


def test_size_and_accuracy_failures_do_not_depend_on_the_control():
    c = _check(1.0, 1.0, 0.5)
    c.size_on_disk = 101
    c.test_measured = 0.8
    assert c.failures() == ["size 101 B on disk, 100 B reported", "test accuracy 0.8000 measured, 0.9000 reported"]


def test_the_command_prints_each_verdict_and_exits_3_on_a_failure(monkeypatch, capsys):
    import automl.verify
    from automl.cli import EXIT_NOT_VERIFIED, main

    teacher = _check(1.0, 1.0, 1.01)
    teacher.trial, teacher.ratio_reported, teacher.ratio_measured = "teacher", None, None
    tampered = _check(0.5, 0.5, 1.01)
    tampered.size_on_disk = 197
    monkeypatch.setattr(automl.verify, "verify_targets", lambda name, run_dir, target: {"ort-cpu": [teacher, tampered]})
    assert main(["verify", "s"]) == EXIT_NOT_VERIFIED
    out, err = capsys.readouterr()
    flat = " ".join(out.split())
    assert "size 197 B on disk, 100 B reported" in flat and "1 (baseline)" in flat
    assert "control: a byte-identical copy of the teacher timed 1.010x the teacher (trusted)" in out
    assert err.strip() == "automl verify: 1 of 2 outside tolerance: 3"
    tampered.size_on_disk = 100
    assert main(["verify", "s"]) == 0 and capsys.readouterr().err == ""

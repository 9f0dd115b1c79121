"""The tests' throwaway SLURM cluster is a real one: sbatch runs jobs and job arrays."""

from __future__ import annotations

from pathlib import Path

from slurmcluster import CPUS, Cluster


def test_a_batch_job_runs_and_writes_its_output(slurm_cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text("#!/bin/bash\necho hello from job $SLURM_JOB_ID\n")
    job = slurm_cluster.sbatch("--output=job.out", "job.sh", cwd=tmp_path)
    slurm_cluster.wait(job)
    assert (tmp_path / "job.out").read_text() == f"hello from job {job}\n"
    assert slurm_cluster.state(job) == "COMPLETED"


def test_an_array_runs_every_task_with_its_own_index(
    slurm_cluster: Cluster, tmp_path: Path
) -> None:
    (tmp_path / "task.sh").write_text("#!/bin/bash\necho $SLURM_ARRAY_TASK_ID >> tasks.log\n")
    job = slurm_cluster.sbatch("--array=0-39", "--output=/dev/null", "task.sh", cwd=tmp_path)
    slurm_cluster.wait(job)
    indexes = sorted(int(line) for line in (tmp_path / "tasks.log").read_text().split())
    assert indexes == list(range(40))
    # the node offers more CPUs than the machine has: a 200-task array runs at once
    assert int(slurm_cluster.run("sinfo", "--noheader", "--format=%c").strip()) == CPUS >= 200

"""The Kubernetes manifests (deploy/k8s) render, validate against the Kubernetes schemas and
keep the deployment's rules; a broken overlay is caught (`make k8s-check` runs the same)."""

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.support import k8s_check

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl renders the overlays"
)


@pytest.mark.parametrize("overlay", ["minikube", "neon"])
def test_every_overlay_renders_valid_manifests_that_keep_the_rules(overlay: str) -> None:
    resources = k8s_check.render(k8s_check.K8S_DIR / "overlays" / overlay)
    assert k8s_check.schema_problems(resources) == []
    assert k8s_check.policy_problems(resources) == []


def _overlay(tmp_path: Path, patch: str) -> Path:
    """An overlay of a copy of the base (Kustomize refuses absolute paths) with `patch`."""
    shutil.copytree(k8s_check.K8S_DIR / "base", tmp_path / "base")
    overlay = tmp_path / "broken"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - ../base
            patches:
              - target:
                  kind: Deployment
                  name: todo-api
                patch: |-
            """
        )
        + textwrap.indent(textwrap.dedent(patch), " " * 6),
        encoding="utf-8",
    )
    return overlay


@pytest.mark.parametrize(
    ("patch", "reported"),
    [
        (
            """\
            - op: replace
              path: /spec/template/spec/containers/0/ports/0/containerPort
              value: eight-thousand
            """,
            "'eight-thousand' is not of type 'integer'",
        ),
        (
            """\
            - op: add
              path: /spec/template/spec/containers/0/readinessProbe/periodSecond
              value: 5
            """,
            "'periodSecond' was unexpected",
        ),
    ],
    ids=["wrong-type", "misspelt-field"],
)
def test_a_manifest_invalid_against_the_schema_fails_the_check(
    tmp_path: Path, patch: str, reported: str
) -> None:
    overlay = _overlay(tmp_path, patch)
    problems = k8s_check.schema_problems(k8s_check.render(overlay))
    assert problems
    assert all(problem.startswith("Deployment/todo-api") for problem in problems)
    assert all(reported in problem for problem in problems)
    assert k8s_check.main([str(overlay)]) == 1


def test_a_secret_written_in_a_manifest_or_a_short_grace_period_fails_the_check(
    tmp_path: Path,
) -> None:
    overlay = _overlay(
        tmp_path,
        """\
        - op: add
          path: /spec/template/spec/containers/0/env/-
          value: {name: JWT_SECRET, value: not-a-secret-any-more}
        - op: replace
          path: /spec/template/spec/terminationGracePeriodSeconds
          value: 20
        """,
    )
    problems = k8s_check.policy_problems(k8s_check.render(overlay))
    assert "api: JWT_SECRET written as a value" in problems
    assert any("terminationGracePeriodSeconds 20 is not longer" in p for p in problems)

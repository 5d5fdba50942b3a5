"""A TypeScript client generated from the committed spec types every body of every operation (issue 11).

openapi-typescript (the standard generator; pinned with tsc in clients/typescript/) turns
openapi/openapi.json into ``schema.d.ts``. This test then writes a TypeScript file naming the
generated type of every documented response of every operation, read from the spec here, and
asserts with conditional types that tsc checks:

- a problem body (``application/problem+json``) is ``components["schemas"]["Problem"]``, assignable
  to it and from it, and not ``any``;
- any other JSON body (every success, and the readiness probe's 503) is neither ``any``,
  ``unknown`` nor ``never``;
- a text body (the CSV exports) is ``string``;
- a response without a body (204) has ``content?: never``.

``tsc --noEmit --strict`` must accept the file. A few deliberately wrong checks, each under
``@ts-expect-error``, prove that the helpers reject what they should: if one stopped biting, tsc
would report the unused directive. Any other media type, or a body-less response other than
204/304/HEAD, fails the test here rather than being skipped.

Run alone: ``uv run pytest tests/contract/test_typescript_client.py``. It runs ``npm ci`` in
clients/typescript/ first when node_modules is missing (the only step that needs the network).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi" / "openapi.json"
CLIENT = ROOT / "clients" / "typescript"
BIN = CLIENT / "node_modules" / ".bin"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PROBLEM_MEDIA_TYPE = "application/problem+json"
NO_BODY_STATUSES = {"204", "304"}

# Operations that document no problem response, and why. Each is public and takes no input,
# so only an unexpected error (500, documented on no operation) could answer with a problem.
WITHOUT_PROBLEMS = {
    "Live": "liveness probe: public, no input",
    "Ping": "public, no input",
    "Ready": "readiness probe: public, no input; its 503 is a Readiness body, which probes read",
}

PRELUDE = """\
import type { components, paths } from "./schema";

type Problem = components["schemas"]["Problem"];

type IsAny<T> = 0 extends 1 & T ? true : false;
type IsUnknown<T> = IsAny<T> extends true ? false : unknown extends T ? true : false;
type IsNever<T> = [T] extends [never] ? true : false;
// A and B are assignable to each other (and neither is any, which is assignable to everything).
type Same<A, B> = IsAny<A> extends true ? false : [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Check<T extends false> = T;
type Holds<T extends true> = T;

// The helpers bite: each checked type below is wrong, so each line must fail to compile.
// @ts-expect-error any is not a typed body
type Canary_any = Check<IsAny<any>>;
// @ts-expect-error unknown is not a typed body
type Canary_unknown = Check<IsUnknown<unknown>>;
// @ts-expect-error never is not a typed body
type Canary_never = Check<IsNever<never>>;
// @ts-expect-error any is not the Problem type
type Canary_problem_any = Holds<Same<any, Problem>>;
// @ts-expect-error a narrower shape is not the Problem type
type Canary_problem_shape = Holds<Same<{ type: string; title: string; status: number }, Problem>>;
// @ts-expect-error a body that may be present is not "no body"
type Canary_no_body = Holds<IsNever<NonNullable<string | undefined>>>;
"""


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, item in spec["paths"].items() for method, op in item.items() if method in METHODS
    ]


def _status_key(status: str) -> str:
    # openapi-typescript writes numeric statuses as number keys, ranges ("4XX") and "default" as strings.
    return status if status.isdigit() else json.dumps(status)


def _checks(spec: dict[str, Any]) -> tuple[str, Counter[str]]:
    """The TypeScript source checking every response of every operation, and what it checks, by kind."""
    lines = [PRELUDE]
    typed: Counter[str] = Counter()
    unhandled: list[str] = []
    without_problems: set[str] = set()
    for path, method, op in _operations(spec):
        op_id = op["operationId"]
        name = re.sub(r"\W", "_", op_id)
        responses: dict[str, Any] = op["responses"]
        lines.append(f"\n// {method.upper()} {path}")
        assert any(status.startswith("2") for status in responses), f"{op_id}: no success response"
        if not any(PROBLEM_MEDIA_TYPE in (r.get("content") or {}) for r in responses.values()):
            without_problems.add(op_id)
        typed["operations"] += 1
        for status, response in responses.items():
            ref = f'paths[{json.dumps(path)}]["{method}"]["responses"][{_status_key(status)}]'
            content: dict[str, Any] = response.get("content") or {}
            if not content:
                if status not in NO_BODY_STATUSES and method != "head":
                    unhandled.append(f"{op_id} {status}: a body-less response that is not 204/304/HEAD")
                    continue
                alias = f"T_{name}_{status}"
                lines.append(f'type {alias} = {ref}["content"];')
                lines.append(f"type C_{alias} = Holds<IsNever<NonNullable<{alias}>>>;")
                typed["no body"] += 1
                continue
            status_name = re.sub(r"\W", "_", status)
            for index, media_type in enumerate(content):
                alias = f"T_{name}_{status_name}" + (f"_{index}" if index else "")
                lines.append(f'type {alias} = {ref}["content"][{json.dumps(media_type)}];')
                if media_type == PROBLEM_MEDIA_TYPE:
                    lines.append(f"type C_{alias} = Holds<Same<{alias}, Problem>>;")
                    typed["problem bodies"] += 1
                elif media_type == "application/json" or media_type.endswith("+json"):
                    lines.append(
                        f"type C_{alias} = [Check<IsAny<{alias}>>, Check<IsUnknown<{alias}>>, Check<IsNever<{alias}>>];"
                    )
                    typed["success bodies" if status.startswith("2") else "other error bodies"] += 1
                elif media_type.startswith("text/"):
                    lines.append(f"type C_{alias} = Holds<Same<{alias}, string>>;")
                    typed["text bodies"] += 1
                else:
                    unhandled.append(f"{op_id} {status}: {media_type} has no check here; add one")
    assert not unhandled, "\n".join(unhandled)
    assert without_problems == WITHOUT_PROBLEMS.keys(), (
        "operations documenting no problem response differ from WITHOUT_PROBLEMS: "
        f"missing reason for {sorted(without_problems - WITHOUT_PROBLEMS.keys())}, "
        f"stale {sorted(WITHOUT_PROBLEMS.keys() - without_problems)}"
    )
    return "\n".join(lines) + "\n", typed


def _run(command: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603


def _ensure_tools() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed (apt-get install nodejs npm; .ci/run does)")
    if not ((BIN / "openapi-typescript").exists() and (BIN / "tsc").exists()):
        installed = _run([npm, "ci", "--no-audit", "--no-fund"], CLIENT, timeout=240)
        assert installed.returncode == 0, f"npm ci in {CLIENT} failed:\n{installed.stdout}\n{installed.stderr}"


@pytest.mark.timeout(300)
def test_a_generated_typescript_client_types_every_body_of_every_operation(tmp_path: Path) -> None:
    _ensure_tools()
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text())

    generated = _run(
        [str(BIN / "openapi-typescript"), str(SPEC_PATH), "-o", str(tmp_path / "schema.d.ts")], CLIENT, 120
    )
    assert generated.returncode == 0, f"openapi-typescript failed:\n{generated.stdout}\n{generated.stderr}"

    source, typed = _checks(spec)
    (tmp_path / "client_types.ts").write_text(source)
    checked = _run(
        [
            str(BIN / "tsc"), "--noEmit", "--strict", "--pretty", "false",
            "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler",
            "client_types.ts",
        ],
        tmp_path,
        240,
    )  # fmt: skip
    ts_lines = source.splitlines()
    failed = [ts_lines[int(n) - 1] for n in re.findall(r"^client_types\.ts\((\d+),", checked.stdout, re.MULTILINE)]
    assert checked.returncode == 0, (
        f"tsc rejected the generated client's types (exit {checked.returncode}):\n"
        f"{checked.stdout}\n{checked.stderr}\nfailing lines:\n" + "\n".join(failed)
    )

    operations = _operations(spec)
    declared_bodies = sum(
        max(1, len(r.get("content") or {})) for _, _, op in operations for r in op["responses"].values()
    )
    bodies = sum(count for kind, count in typed.items() if kind != "operations")
    assert typed["operations"] == len(operations), "an operation was skipped"
    assert bodies == declared_bodies, f"{bodies} responses typed, the spec declares {declared_bodies}"
    assert source.count("\ntype T_") == declared_bodies
    assert typed["success bodies"] and typed["problem bodies"]
    print(f"typed {len(operations)} operations, {bodies} responses: {dict(typed)}")

# Helpers for tests/cli/test_*.sh. Source it: . "$(dirname "$0")/lib.sh"
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_exit CODE CMD...: runs CMD, stores stdout/stderr in $OUT_TEXT/$ERR_TEXT, checks the exit code.
expect_exit() {
  local want="$1"; shift
  local out err
  out="$(mktemp)"; err="$(mktemp)"
  "$@" >"$out" 2>"$err"
  local got=$?
  OUT_TEXT="$(cat "$out")"; ERR_TEXT="$(cat "$err")"
  rm -f "$out" "$err"
  [[ "$got" == "$want" ]] || fail "expected exit $want, got $got from: $* | stderr: $ERR_TEXT"
}
expect_contains() { [[ "$1" == *"$2"* ]] || fail "expected output to contain '$2', got: $1"; }

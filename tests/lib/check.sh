# shellcheck shell=bash
# tests/lib/check.sh - tiny TAP-like result recording for the shell test parts (source it).
#   it_ok NAME / it_fail NAME DETAIL   record one result, printed as "ok - NAME" / "not ok - NAME"
#   it_done                            print the tally; returns 1 if anything failed

IT_PASSED=0
IT_FAILED=0
IT_PREFIX=${IT_PREFIX:-}

it_ok() {
    IT_PASSED=$((IT_PASSED + 1))
    echo "ok - ${IT_PREFIX}$1"
}
it_fail() {
    IT_FAILED=$((IT_FAILED + 1))
    echo "not ok - ${IT_PREFIX}$1: $2"
}
# it_check NAME CMD...: run CMD, record ok or not ok (with the last lines of its output).
it_check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        it_ok "$name"
    else
        it_fail "$name" "$(tail -5 <<<"$out" | tr '\n' ' ')"
    fi
}
it_done() {
    echo "# ${IT_PREFIX:-shell}: $IT_PASSED ok, $IT_FAILED not ok"
    ((IT_FAILED == 0))
}
# Wait until FILE has a line matching PATTERN (grep -E); SECS bound.
it_wait_grep() {
    local file=$1 pat=$2 secs=${3:-10} deadline
    deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        grep -qE "$pat" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Sourced by the bench scripts from the repository root: sets BIN (the
# binary to time: $BIN, or a fresh release build) and out (bench/out), and
# defines `measure WHAT CMD...`, which runs CMD once and prints one line with
# its exit code, wall seconds, CPU seconds (user + system: steadier than wall
# time on a shared machine) and peak memory.
if [ -z "${BIN:-}" ]; then
  cargo build --release -p portmatrix >&2
  BIN=target/release/portmatrix
fi
out=bench/out
mkdir -p "$out"

measure() {
  local what=$1
  shift
  local code stats="$out/time.txt"
  set +e
  /usr/bin/time -o "$stats" -f "%e %U %S %M" "$@" >/dev/null 2>&1
  code=$?
  set -e
  read -r wall user sys kib <<<"$(tail -n 1 "$stats")"
  printf '%-34s exit %s  wall %7.2f s  cpu %7.2f s  peak %6d MiB\n' "$what" "$code" "$wall" "$(echo "$user + $sys" | bc)" "$((kib / 1024))"
}


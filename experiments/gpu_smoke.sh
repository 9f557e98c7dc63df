#!/usr/bin/env bash
# GPU smoke test: a short bf16 LoRA stage, then each DeepSpeed ZeRO stage, on a small hub-format model; prints
# tokens/s, peak GPU memory and MFU for each run (experiments/smoke_report.py).
#
# to run (GPU machine):  bash experiments/gpu_smoke.sh [extra train.py overrides ...]
#   MODEL=llama7b GPUS=4 STEPS=30 bash experiments/gpu_smoke.sh      # any conf/model/ option, any GPU count
#   ONLY=lora,zero3 bash experiments/gpu_smoke.sh                     # a subset of: lora zero2 zero3 zero3_offload
#   PEAK_TFLOPS=989 ...                                               # per-GPU peak when the GPU is not recognised
# --cpu runs the same sequence on the tiny model on CPU (DeepSpeed's CPU path): checks the script, not speed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-20}
ONLY=${ONLY:-lora,zero2,zero3,zero3_offload}
OUT=${OUT:-outputs/gpu_smoke/$(date +%Y%m%d_%H%M%S)}

if [[ "${1:-}" == "--cpu" ]]; then
  shift
  GPUS=${GPUS:-2}
  COMMON=(model=tiny_llama trainer.accelerator=cpu trainer.precision=32-true data.batch_size=4)
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
else
  GPUS=${GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l)}
  if [[ "$GPUS" -lt 1 ]]; then echo "gpu_smoke: no GPU found (nvidia-smi -L); use --cpu to check the script" >&2; exit 2; fi
  COMMON=(model="${MODEL:-smollm2_135m}" trainer.accelerator=gpu trainer.precision=bf16-mixed data.batch_size=8)
fi

# Short, quiet, no validation: the numbers are training throughput and memory.
COMMON+=(heldout_check.enabled=false callbacks.progress_bar.refresh_rate=0 callbacks.model_checkpoint=null
         callbacks.early_stopping=null trainer.limit_val_batches=0 "trainer.max_steps=$STEPS"
         "experiment_name=gpu_smoke")

declare -A RUNS=(
  [lora]="strategy=auto trainer.devices=1"
  [zero2]="strategy=deepspeed_stage2 trainer.devices=$GPUS"
  [zero3]="strategy=deepspeed_stage3 trainer.devices=$GPUS"
  [zero3_offload]="strategy=deepspeed_stage3_offload trainer.devices=$GPUS"
)
mkdir -p "$OUT"
dirs=()
for name in lora zero2 zero3 zero3_offload; do
  [[ ",$ONLY," == *",$name,"* ]] || continue
  echo "== $name: ${RUNS[$name]}" >&2
  # shellcheck disable=SC2086  # RUNS entries are whitespace-separated overrides
  "$PY" train.py "${COMMON[@]}" ${RUNS[$name]} "hydra.run.dir=$OUT/$name" "$@" >"$OUT/$name.log" 2>&1 \
    || { echo "gpu_smoke: $name failed; see $OUT/$name.log" >&2; tail -20 "$OUT/$name.log" >&2; exit 1; }
  dirs+=("$OUT/$name")
done
"$PY" experiments/smoke_report.py ${PEAK_TFLOPS:+--peak-tflops "$PEAK_TFLOPS"} "${dirs[@]}"

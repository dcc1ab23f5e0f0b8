#!/usr/bin/env bash
# A single-node Slurm cluster on 127.0.0.1, for CI and for trying scripts/slurm/ on a laptop.
#   scripts/slurm_cluster.sh start   # idempotent: reuses a cluster this script already started
#   scripts/slurm_cluster.sh status  # exit 0 when the controller answers
#   scripts/slurm_cluster.sh stop    # stops the daemons this script started (by PID), nothing else
#   eval "$(scripts/slurm_cluster.sh env)"   # SLURM_CONF for sbatch/squeue/sinfo in this shell
# Needs root and the Debian packages slurmctld slurmd slurm-client munge (scripts/install_deps.sh).
# There is no systemd in the CI containers, so the daemons are started by hand; the config, state, logs
# and PID files live in LIL_SLURM_DIR (default /tmp/lil-slurm), never in /etc/slurm. The node has no
# GPUs (the CI machines have none), so jobs here are submitted with --gres=none. Only 127.0.0.1 is used.
set -euo pipefail

dir="${LIL_SLURM_DIR:-/tmp/lil-slurm}"
conf="$dir/slurm.conf"
munge_socket_dir=/run/munge

die() { echo "slurm_cluster: $*" >&2; exit 2; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

controller_answers() { SLURM_CONF="$conf" scontrol ping 2>/dev/null | grep -q "is UP"; }

node_idle() { SLURM_CONF="$conf" sinfo -h -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; }

check_prerequisites() {
  [[ "$(id -u)" == 0 ]] || die "needs root (munged and slurmd run as root here)"
  local missing=()
  for tool in munged mungekey slurmctld slurmd sbatch scontrol sinfo; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [[ ${#missing[@]} -eq 0 ]] || die "missing ${missing[*]}; install the Debian packages slurmctld slurmd slurm-client munge"
}

write_config() {
  local host cpus memory
  host="$(hostname -s)"
  # Advertise exactly what slurmd detects, or the node is drained for a CPU/memory mismatch.
  cpus="$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -1)"
  memory="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)"
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  cat > "$conf" <<EOF
ClusterName=lil-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

start_munge() {
  mkdir -p "$munge_socket_dir"
  # Slurm's clients connect to the socket as any user; 755 lets them in.
  chmod 755 "$munge_socket_dir"
  if [[ -S "$munge_socket_dir/munge.socket.2" ]] && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return  # a munged is already serving (ours or the system's): leave it alone
  fi
  [[ -f /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  chown munge:munge "$munge_socket_dir" 2>/dev/null || true
  mkdir -p /var/lib/munge /var/log/munge
  chown munge:munge /var/lib/munge /var/log/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged --pid-file="$dir/munged.pid.tmp" --socket="$munge_socket_dir/munge.socket.2"
    # munged writes its PID file as the munge user; keep our own copy for stop.
    cp "$dir/munged.pid.tmp" "$dir/munged.pid"
  else
    munged --force --pid-file="$dir/munged.pid" --socket="$munge_socket_dir/munge.socket.2"
  fi
  for _ in $(seq 1 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "munged did not answer on $munge_socket_dir/munge.socket.2"
}

start() {
  check_prerequisites
  # Asking a controller that is not there takes scontrol's full timeout, so look at our PID files first.
  if pid_alive "$dir/slurmctld.pid" && pid_alive "$dir/slurmd.pid" && controller_answers && node_idle; then
    echo "slurm_cluster: already running (SLURM_CONF=$conf)"
    return
  fi
  mkdir -p "$dir"
  chmod 1777 "$dir" 2>/dev/null || true
  write_config
  start_munge
  # -c: a fresh cluster forgets the jobs of an earlier one (a failed test can leave some queued).
  pid_alive "$dir/slurmctld.pid" || SLURM_CONF="$conf" slurmctld -f "$conf" -c
  pid_alive "$dir/slurmd.pid" || SLURM_CONF="$conf" slurmd -f "$conf"
  for _ in $(seq 1 100); do
    if controller_answers && node_idle; then
      echo "slurm_cluster: up (SLURM_CONF=$conf)"
      return
    fi
    SLURM_CONF="$conf" sinfo -h -o '%t' 2>/dev/null | grep -Eq '^(inval|drain)' && break
    sleep 0.2
  done
  echo "slurm_cluster: the node did not come up; last log lines:" >&2
  tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
  SLURM_CONF="$conf" sinfo -N -l >&2 || true
  exit 1
}

stop_pid_file() {
  local file="$1"
  pid_alive "$file" || { rm -f "$file"; return 0; }
  local pid
  pid="$(cat "$file")"
  kill "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$file"
}

stop() {
  # slurmd first, so that the controller does not mark the node down while it is still up.
  stop_pid_file "$dir/slurmd.pid"
  stop_pid_file "$dir/slurmctld.pid"
  stop_pid_file "$dir/munged.pid"
  echo "slurm_cluster: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) pid_alive "$dir/slurmctld.pid" && controller_answers && node_idle ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A single-node Slurm on this machine, for CI: Debian's slurmctld, slurmd and munge, run as root
# with no cgroups (proctrack/linuxproc, task/none), one node with this machine's CPUs and no GPU,
# one partition "debug", no accounting. Idempotent: daemons already up are left alone.
#   tools/slurm_single_node.sh start     install (apt) if missing, configure, start, wait ready
#   tools/slurm_single_node.sh stop      stop the daemons
set -euo pipefail
action=${1:-start}
state=/var/lib/rsbench-slurm
conf=/etc/slurm/slurm.conf

stop() {
  # jobs still queued or running (a requeued task) end with the cluster, not after it
  scancel --user "$(id -un)" 2>/dev/null || true
  sleep 1
  pkill -f slurm_script 2>/dev/null || true
  pkill -x srun 2>/dev/null || true
  pkill -f slurmstepd 2>/dev/null || true
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  # wait for them to be gone (a step daemon can take its time): a slurmd still shutting down
  # when the next start runs would be taken for a live one, and its node goes DOWN under it
  for _ in $(seq 20); do
    pgrep -f slurmstepd >/dev/null || pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null \
      || break
    sleep 1
  done
  pkill -9 -f slurmstepd 2>/dev/null || true
  pkill -9 -x slurmd 2>/dev/null || true
  pkill -9 -x slurmctld 2>/dev/null || true
  pkill -x munged 2>/dev/null || true  # last: the others authenticate through it to the end
}

if [ "$action" = stop ]; then stop; exit 0; fi

sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmd slurmctld slurm-client munge
fi

host=$(hostname -s)
cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
$sudo mkdir -p /etc/slurm "$state/ctld" "$state/d" /var/log/slurm /run/munge /etc/munge
$sudo tee "$conf" >/dev/null <<CONF
ClusterName=rsbench-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=60 State=UP
CONF
if [ ! -s /etc/munge/munge.key ]; then
  $sudo dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
$sudo chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
$sudo chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || $sudo -u munge /usr/sbin/munged 2>/dev/null || $sudo /usr/sbin/munged --force
pgrep -x slurmctld >/dev/null || $sudo /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || $sudo /usr/sbin/slurmd
for _ in $(seq 60); do
  if sinfo -h -o "%T" 2>/dev/null | grep -qE "^(idle|mixed|allocated)"; then
    sinfo
    exit 0
  fi
  sleep 1
done
echo "Slurm did not come up; logs follow" >&2
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1

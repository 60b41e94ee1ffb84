#!/usr/bin/env bash
# infra/kube/node/node-start.sh — the single-node cluster, started inside its node container
# (the container's main program, under docker's init; infra/kube/cluster creates the
# container). Every part is a plain process here, supervised by this script (restarted when
# it exits), with its log in /var/log/kube/NAME.log:
#
#   containerd  →  etcd (127.0.0.1 only)  →  kube-apiserver  →  kube-controller-manager,
#   kube-scheduler  →  kubelet (on containerd, CNI bridge)  →  kube-proxy (iptables)
#
# Cluster DNS (CoreDNS) and local volumes are addons the host side applies
# (infra/kube/addons/). The programs come from /opt/kube/bin (read-only, the cache of
# infra/kube/build.sh), the configuration files from /opt/todo-node (this directory).
#
# State lives in /var/lib (the node's volume): certificates are made on the first start (CA,
# service-account key) and the leaf certificates on every start (the node's address may
# change); etcd's data, containerd's images, the kubelet's pods and the local volumes stay
# until the volume is removed (infra/kube/cluster down). When every part has been started
# and the API server answers, /run/todo-node/ready appears.
#
# Isolation from the machine, which other work shares: the node has its own network
# namespace (its own iptables), cgroup namespace (every pod below the container's cgroup)
# and mounts. Kernel settings that are not per namespace stay read-only (/proc/sys, except the
# node's own net.*), so nothing here changes the machine's kernel; the kubelet's start-up
# check of six such settings is shown the values it requires (mask_kernel_tunables below).
set -euo pipefail

BIN=/opt/kube/bin
CONF=/opt/todo-node
STATE=/var/lib/kubernetes
PKI=$STATE/pki
LOG=/var/log/kube
RUN=/run/todo-node
NODE=$(hostname)
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
POD_CIDR=10.244.0.0/16
export PATH="$BIN:$PATH"

mkdir -p "$PKI" "$LOG" "$RUN"
rm -f "$RUN/ready"
say() { printf '%s node: %s\n' "$(date -u +%FT%TZ)" "$*" | tee -a "$LOG/node.log"; }
die() { say "error: $*"; exit 1; }

NODE_IP=$(ip -4 -o addr show dev eth0 | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
[ -n "$NODE_IP" ] || die "the node container has no IPv4 address on eth0"
say "node $NODE at $NODE_IP, Kubernetes $(kube-apiserver --version | cut -d' ' -f2)"

# ---- the machine's view ------------------------------------------------------------------

# cgroups (v1 here, v2 alike): docker mounts them read-only; mount each hierarchy afresh,
# writable, rooted at the container's own cgroup (the container runs in a private cgroup
# namespace), so that the kubelet places every pod below the node container.
remount_cgroups() {
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then        # cgroup v2: one hierarchy
        umount /sys/fs/cgroup && mount -t cgroup2 -o rw,nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
        return
    fi
    local dir opts
    mount -o remount,rw /sys/fs/cgroup
    while read -r dir opts; do
        umount "$dir"
        mount -t cgroup -o "rw,nosuid,nodev,noexec,$opts" cgroup "$dir"
    done < <(awk '$3 == "cgroup" && $2 ~ "^/sys/fs/cgroup/" {
                 n = split($4, o, ","); keep = "";
                 for (i = 1; i <= n; i++) if (o[i] !~ /^(rw|ro|nosuid|nodev|noexec|relatime)$/) keep = keep (keep ? "," : "") o[i];
                 print $2, keep }' /proc/mounts)
}

# The kubelet requires vm.overcommit_memory=1, vm.panic_on_oom=0, kernel.panic=10,
# kernel.panic_on_oops=1 and two kernel.keys limits, and sets them when they differ
# (pkg/kubelet/cm: setupKernelTunables). Those are the whole machine's settings, not the
# node's: instead of changing them under everyone else, the node shows the kubelet the values
# it requires (a read-only file bound over each differing one, in the node's mount namespace
# only) and keeps /proc/sys read-only. With K8S_NODE_KERNEL_TUNABLES=host the kubelet sets
# them for real — for a machine dedicated to the cluster.
mask_kernel_tunables() {
    local want=(vm/overcommit_memory:1 vm/panic_on_oom:0 kernel/panic:10 kernel/panic_on_oops:1
                kernel/keys/root_maxkeys:1000000 kernel/keys/root_maxbytes:25000000)
    local w key value host
    if [ "${K8S_NODE_KERNEL_TUNABLES:-mask}" = host ]; then
        say "K8S_NODE_KERNEL_TUNABLES=host: the kubelet sets the machine's kernel settings"
        return
    fi
    # /proc/sys read-only, except the node's network namespace's own settings (kube-proxy and
    # the bridge plugin set some: route_localnet, ip_forward) …
    mount --bind /proc/sys /proc/sys
    mount -o remount,bind,ro /proc/sys
    mount --bind /proc/sys/net /proc/sys/net
    mount -o remount,bind,rw /proc/sys/net
    # … and the kubelet's six on top, where the machine's value is not the one it requires
    mkdir -p "$RUN/sysctl"
    for w in "${want[@]}"; do
        key=${w%%:*}; value=${w#*:}
        host=$(cat "/proc/sys/$key")
        [ "$host" = "$value" ] && continue
        echo "$value" >"$RUN/sysctl/${key//\//.}"
        mount --bind "$RUN/sysctl/${key//\//.}" "/proc/sys/$key"
        mount -o remount,bind,ro "/proc/sys/$key"
        say "kernel setting $key: the machine keeps $host, the kubelet is shown $value"
    done
}

# the kubelet and cAdvisor identify the machine by it (systemd would make it)
[ -s /etc/machine-id ] || tr -d '-' </proc/sys/kernel/random/uuid >/etc/machine-id

if [ ! -e "$RUN/mounts-done" ]; then
    remount_cgroups
    mask_kernel_tunables
    mount --make-rshared /          # volumes the kubelet mounts propagate into the pods
    touch "$RUN/mounts-done"
fi
echo 1 >/proc/sys/net/ipv4/ip_forward

# ---- certificates and kubeconfigs ----------------------------------------------------------
# EC P-256 keys and certificates signed by the cluster's own CA, made here, never committed;
# the host gets only the administrator's kubeconfig (infra/kube/cluster copies it to .run/).

# cert NAME CN O EXT SAN: $PKI/NAME.key and NAME.crt signed by the CA (O may be empty;
# EXT is serverAuth or clientAuth; SAN a subjectAltName list or empty)
cert() {
    local name=$1 cn=$2 o=$3 ext=$4 san=$5 subj
    subj="/CN=$cn"; [ -n "$o" ] && subj="/O=$o$subj"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$name.key" 2>/dev/null
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$ext"
        [ -n "$san" ] && echo "subjectAltName=$san"
    } >"$PKI/$name.ext"
    openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
        -days 365 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

# kubeconfig NAME USER: $STATE/NAME.conf for USER's certificate ($PKI/USER.*), the API
# server at https://127.0.0.1:6443, everything embedded (the host copies admin.conf)
kubeconfig() {
    local name=$1 user=$2
    cat >"$STATE/$name.conf" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: todo-k8s
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$user.crt")
    client-key-data: $(base64 -w0 <"$PKI/$user.key")
contexts:
- name: todo-k8s
  context: {cluster: todo-k8s, user: $user}
current-context: todo-k8s
EOF
    chmod 0600 "$STATE/$name.conf"
}

umask 077
if [ ! -s "$PKI/ca.crt" ]; then
    say "making the cluster CA and service-account key"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=todo-k8s-ca" -days 3650 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$PKI/ca.crt" 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/sa.key" 2>/dev/null
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi
say "making the certificates for $NODE_IP"
cert apiserver kube-apiserver "" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$NODE,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$NODE_IP"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth ""
cert admin kubernetes-admin system:masters clientAuth ""
cert controller-manager system:kube-controller-manager "" clientAuth ""
cert scheduler system:kube-scheduler "" clientAuth ""
cert kube-proxy system:kube-proxy "" clientAuth ""
cert kubelet-client "system:node:$NODE" system:nodes clientAuth ""
cert kubelet "$NODE" "" serverAuth "DNS:$NODE,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1"
kubeconfig admin admin
kubeconfig controller-manager controller-manager
kubeconfig scheduler scheduler
kubeconfig kube-proxy kube-proxy
kubeconfig kubelet kubelet-client
umask 022

# ---- configuration files -------------------------------------------------------------------
mkdir -p /etc/containerd /etc/cni/net.d /var/lib/kubelet /var/lib/etcd
[ -n "${PAUSE_IMAGE:-}" ] || die "PAUSE_IMAGE is not set (infra/kube/cluster sets it)"
sed -e "s|@PAUSE_IMAGE@|$PAUSE_IMAGE|g" "$CONF/containerd.toml" >/etc/containerd/config.toml
cp "$CONF/cni.conflist" /etc/cni/net.d/10-todo-bridge.conflist
sed -e "s|@PKI@|$PKI|g" "$CONF/kubelet.yaml" >/var/lib/kubelet/config.yaml
sed -e "s|@STATE@|$STATE|g" -e "s|@POD_CIDR@|$POD_CIDR|g" "$CONF/kube-proxy.yaml" >"$STATE/kube-proxy.yaml"

# ---- the parts -------------------------------------------------------------------------------
PIDS=()
# supervise NAME CMD…: run CMD, logging to $LOG/NAME.log, again whenever it exits
supervise() {
    local name=$1; shift
    (
        trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM
        while :; do
            "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
            child=$!
            wait "$child" && rc=0 || rc=$?
            printf '%s node: %s exited (status %s); restarting in 2s\n' "$(date -u +%FT%TZ)" "$name" "$rc" | tee -a "$LOG/node.log" >>"$LOG/$name.log"
            sleep 2
        done
    ) &
    PIDS+=($!)
}
# wait_for WHAT SECONDS CMD…: until CMD succeeds
wait_for() {
    local what=$1 limit=$2 deadline; shift 2
    deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt "$deadline" ] || die "$what did not come up within ${limit}s (see $LOG/)"
        sleep 0.5
    done
}
stop_all() {
    say "stopping"
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
    wait || true
    exit 0
}
trap stop_all TERM INT

supervise containerd containerd --config /etc/containerd/config.toml
wait_for containerd 60 ctr --address /run/containerd/containerd.sock version

supervise etcd etcd --name "$NODE" --data-dir /var/lib/etcd \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381 \
    --snapshot-count 10000 --quota-backend-bytes 2147483648
wait_for etcd 60 curl -fsS http://127.0.0.1:2381/health

supervise kube-apiserver kube-apiserver \
    --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port=6443 \
    --etcd-servers=http://127.0.0.1:2379 \
    --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
    --client-ca-file="$PKI/ca.crt" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --allow-privileged=false --profiling=false --v=1
wait_for kube-apiserver 120 curl -fsS --cacert "$PKI/ca.crt" https://127.0.0.1:6443/readyz

supervise kube-controller-manager kube-controller-manager \
    --kubeconfig="$STATE/controller-manager.conf" \
    --authentication-kubeconfig="$STATE/controller-manager.conf" \
    --authorization-kubeconfig="$STATE/controller-manager.conf" \
    --bind-address=127.0.0.1 --leader-elect=false \
    --service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$POD_CIDR" \
    --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
    --use-service-account-credentials=true --profiling=false --v=1
supervise kube-scheduler kube-scheduler \
    --kubeconfig="$STATE/scheduler.conf" \
    --authentication-kubeconfig="$STATE/scheduler.conf" \
    --authorization-kubeconfig="$STATE/scheduler.conf" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1
supervise kubelet kubelet --config=/var/lib/kubelet/config.yaml --kubeconfig="$STATE/kubelet.conf" \
    --hostname-override="$NODE" --node-ip="$NODE_IP" --v=1
supervise kube-proxy kube-proxy --config="$STATE/kube-proxy.yaml" --hostname-override="$NODE" --v=1

touch "$RUN/ready"
say "every part started"
wait

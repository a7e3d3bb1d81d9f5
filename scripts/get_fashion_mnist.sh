#!/usr/bin/env bash
# Make Fashion-MNIST available to pixsim, or stop at once with one message saying how.
# Order: already present ($PIXSIM_DATA, ./data, /usr/share/datasets/fashion-mnist);
# Debian's package dataset-fashion-mnist when apt is available and we are root;
# torchvision's download into ./data when a network is reachable.
set -u
have() {
  python - <<'PY' >/dev/null 2>&1
from pixsim.data import load_dataset
load_dataset("fashion_mnist", "test", limit=1)
PY
}
have && { echo "Fashion-MNIST: found"; exit 0; }
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Fashion-MNIST: installing Debian package dataset-fashion-mnist"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1
  have && { echo "Fashion-MNIST: found after apt-get"; exit 0; }
fi
echo "Fashion-MNIST: trying torchvision's download into ./data"
if timeout 300 python - <<'PY'
from torchvision.datasets import FashionMNIST
for train in (True, False):
    FashionMNIST("data", train=train, download=True)
PY
then
  export PIXSIM_DATA="${PIXSIM_DATA:-$(pwd)/data}"
  have && { echo "Fashion-MNIST: downloaded to ./data"; exit 0; }
fi
cat >&2 <<'MSG'
pixsim: Fashion-MNIST not found and could not be obtained.
  Get it one of these ways, then rerun:
  - on Debian/Ubuntu as root:  apt-get install dataset-fashion-mnist   (files in /usr/share/datasets/fashion-mnist)
  - with a network:            python -c "from torchvision.datasets import FashionMNIST as F; F('data', download=True); F('data', train=False, download=True)"
  - or copy the four original .gz files into a folder and set PIXSIM_DATA to it.
MSG
exit 1

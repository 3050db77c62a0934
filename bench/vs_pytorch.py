"""PyTorch side of `npm run bench -- --only vs-pytorch` (bench/vs_pytorch.ts).

A long-lived child process that speaks JSON lines on stdin/stdout, so that the Node side can
interleave one tfjs step and one PyTorch step at a time (both see the same machine load):

    {"op": "hello"}                                   -> versions, whether the reference S3N loads
    {"op": "setup", "net": "resnet10"|"resnet50", "size": 112, "batch": 32,
     "kind": "train"|"forward"|"s3n", "classes": 200} -> builds the case (frees the previous one)
    {"op": "step", "threads": 1}                      -> runs one timed step: {"ms": ...}
    {"op": "quit"}

Every answer is one JSON line ({"error": "..."} on failure). Run with Debian's python, the one
that has torch: /usr/bin/python3.

Networks (the same as bench/vs_pytorch.ts builds in tfjs):
- resnet10: torchvision's ResNet with one BasicBlock per stage and widths 32, 64, 128, 256;
- resnet50: torchvision.models.resnet50;
both without avgpool/fc as the S3N backbone, with global average pool + Linear(classes) for the
backbone rows. Training step = forward (train mode), cross-entropy, backward, SGD (momentum 0.9,
weight decay 1e-4). Forward = eval mode under torch.no_grad().

The S3N rows use the authors' own code, Yao-DD/S3N `sss_net.py` (and `losses.py` for
`multi_smooth_loss`), imported at run time from S3N_REFERENCE_DIR or .cache/S3N (a clone of it;
nothing is downloaded): nothing of it is copied here. It is loaded the way the golden files' generator loaded it
(test/golden/README.md): the `nest` registry stubbed, `.cuda()`
a no-op on this CPU-only machine, `F.grid_sample` with align_corners=True (PyTorch 0.4.1's
behaviour, the authors' version), and the hard-coded feature width 2048 replaced by the
backbone's when it differs (resnet10: 256). Its step is the authors' training step in the first
stage: `model(images, p=0)`, `multi_smooth_loss(outputs, labels, smooth_ratio=0.85)`, backward,
SGD.
"""
import json
import os
import sys
import time
import types
import warnings

warnings.filterwarnings('ignore')

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
    from torchvision.models.resnet import BasicBlock
except Exception as e:  # noqa: BLE001 - reported to the Node side, which skips the section
    print(json.dumps({'error': f'torch/torchvision not importable: {e}'}), flush=True)
    sys.exit(0)

REFERENCE_COMMIT = 'c77729b19be2c0d8581f0c522d856a3fc7fdfa21'


class ResNet10(nn.Module):
    """torchvision-style ResNet with one BasicBlock per stage (the tfjs resnet10 of vs_pytorch.ts)."""

    def __init__(self, widths=(32, 64, 128, 256)):
        super().__init__()
        w0 = widths[0]
        self.conv1 = nn.Conv2d(3, w0, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w0)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers = []
        inplanes = w0
        for s, w in enumerate(widths):
            stride = 1 if s == 0 else 2
            down = None
            if stride != 1 or inplanes != w:
                down = nn.Sequential(nn.Conv2d(inplanes, w, 1, stride, bias=False), nn.BatchNorm2d(w))
            layers.append(nn.Sequential(BasicBlock(inplanes, w, stride, down)))
            inplanes = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.num_features = inplanes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')


def trunk(net):
    """(features: nn.Sequential, num_features) of a torchvision-style ResNet, without avgpool/fc."""
    if net == 'resnet10':
        m = ResNet10()
        c = m.num_features
    elif net == 'resnet50':
        m = torchvision.models.resnet50()
        c = 2048
    else:
        raise ValueError(f'unknown net {net}')
    features = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4)
    return features, c


class Classifier(nn.Module):
    """Backbone -> global average pool -> linear: what the backbone rows train."""

    def __init__(self, features, c, classes):
        super().__init__()
        self.features = features
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def reference_dir():
    d = os.environ.get('S3N_REFERENCE_DIR')
    if d and os.path.isfile(os.path.join(d, 'sss_net.py')):
        return d
    return None


_reference_cache = {}


def load_reference(width):
    """The authors' sss_net module (and losses) with the feature width `width`."""
    if width in _reference_cache:
        return _reference_cache[width]
    d = reference_dir()
    if d is None:
        raise RuntimeError('the authors\' sss_net.py was not found (set S3N_REFERENCE_DIR to a checkout of Yao-DD/S3N)')
    nest = types.ModuleType('nest')
    nest.register = lambda f=None, **_: f if f is not None else (lambda g: g)
    nest.modules = types.SimpleNamespace()
    nest.Context = object
    sys.modules['nest'] = nest
    # CPU only: the reference moves its helper tensors with .cuda().
    torch.Tensor.cuda = lambda self, *a, **k: self
    # PyTorch 0.4.1's grid_sample behaved as align_corners=True (the golden files use the same).
    f_patched = types.ModuleType('F_align_corners')
    f_patched.__dict__.update(F.__dict__)
    f_patched.grid_sample = lambda inp, grid, **k: F.grid_sample(inp, grid, align_corners=True, **k)
    mods = {}
    for name in ('sss_net', 'losses'):
        src = open(os.path.join(d, f'{name}.py'), encoding='utf8').read()
        if name == 'sss_net' and width != 2048:
            src = src.replace('2048', str(width))
        mod = types.ModuleType(f'reference_{name}_{width}')
        mod.__file__ = os.path.join(d, f'{name}.py')
        exec(compile(src, mod.__file__, 'exec'), mod.__dict__)  # noqa: S102 - the authors' code, read from their repository
        mods[name] = mod
    mods['sss_net'].F = f_patched
    _reference_cache[width] = mods
    return mods


class Case:
    def __init__(self, spec):
        net, size, batch, kind = spec['net'], spec['size'], spec['batch'], spec['kind']
        classes = spec.get('classes', 200)
        torch.manual_seed(1)
        self.kind = kind
        self.x = torch.rand(batch, 3, size, size)
        self.y = torch.arange(batch) % classes
        features, c = trunk(net)
        if kind == 's3n':
            ref = load_reference(c)
            base = types.SimpleNamespace(features=features, num_features=c)
            # The tfjs defaults (s3n-layers' S3N_DEFAULTS): radius 0.09, radius_inv 0.3, base ratio 0.09.
            self.model = ref['sss_net'].S3N(base, classes, size, 0.09, 0.09, 0.3)
            self.loss = lambda out: ref['losses'].multi_smooth_loss(out, self.y, smooth_ratio=0.85)
            self.forward = lambda: self.model(self.x, 0)
        else:
            self.model = Classifier(features, c, classes)
            self.loss = lambda out: F.cross_entropy(out, self.y)
            self.forward = lambda: self.model(self.x)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)

    def step(self):
        if self.kind == 'forward':
            self.model.eval()
            with torch.no_grad():
                out = self.forward()
            return float(out.sum())
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.forward())
        loss.backward()
        self.opt.step()
        return float(loss)


def main():
    case = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
            op = msg.get('op')
            if op == 'hello':
                ans = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'mkldnn': torch.backends.mkldnn.is_available(), 'reference': reference_dir()}
                if ans['reference'] is not None:
                    try:
                        load_reference(2048)
                    except Exception as e:  # noqa: BLE001
                        ans['reference_error'] = str(e)
            elif op == 'setup':
                case = None
                case = Case(msg)
                ans = {'ok': True, 'params': case.params}
            elif op == 'step':
                torch.set_num_threads(int(msg.get('threads', 1)))
                t0 = time.perf_counter()
                value = case.step()
                ans = {'ms': (time.perf_counter() - t0) * 1000, 'value': value, 'threads': torch.get_num_threads()}
            elif op == 'quit':
                print(json.dumps({'ok': True}), flush=True)
                return
            else:
                ans = {'error': f'unknown op {op}'}
        except Exception as e:  # noqa: BLE001 - answered, the Node side decides
            ans = {'error': f'{type(e).__name__}: {e}'}
        print(json.dumps(ans), flush=True)


if __name__ == '__main__':
    main()

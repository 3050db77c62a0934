"""Reference data for the torchvision backbone tests, made at test time with PyTorch.

    /usr/bin/python3 torch_parity.py keys OUT.json resnet18 resnet34 ...
        writes {arch: [[key, shape], ...]} of torchvision's random-init state dicts.

    /usr/bin/python3 torch_parity.py model OUTDIR ARCH SEED SIZE [SIZE ...]
        builds torchvision's ARCH (random init, torch.manual_seed(SEED)), gives its batch norms
        non-trivial statistics (three forward passes in train mode on random data with a
        cumulative average, then random weight / bias and a perturbed running_var), switches to
        eval mode, saves OUTDIR/ARCH.pth (torch.save of the state dict, zip format) and
        OUTDIR/ARCH.safetensors (written by hand: the safetensors package is not in Debian),
        and for each SIZE a fixed smooth batch of two images and the model's features:
        OUTDIR/ARCH_SIZE.input.f32 and OUTDIR/ARCH_SIZE.features.f32 (float32 little endian,
        NHWC) with the shapes in OUTDIR/ARCH.json. ResNets: layer4 features; mobilenet_v2: the
        output of `features`.

Nothing is downloaded.
"""
import json
import math
import os
import struct
import sys

import torch
import torchvision


def build(arch):
    return getattr(torchvision.models, arch)()


def body(model, arch, x):
    """The feature map the tfjs backbone outputs."""
    if arch.startswith('mobilenet'):
        return model.features(x)
    m = model
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer4(m.layer3(m.layer2(m.layer1(x))))


def smooth_images(size):
    """Two smooth images [2, 3, size, size] (NCHW), values about in [-2, 2]."""
    h = torch.arange(size, dtype=torch.float64).view(1, 1, size, 1)
    w = torch.arange(size, dtype=torch.float64).view(1, 1, 1, size)
    c = torch.arange(3, dtype=torch.float64).view(1, 3, 1, 1)
    b = torch.arange(2, dtype=torch.float64).view(2, 1, 1, 1)
    x = 1.5 * torch.sin(0.11 * (h + 1) * (c + 1) + 0.5 * b) * torch.cos(0.07 * (w + 3) - 0.3 * c) + 0.3 * torch.cos(0.05 * (h - w) + b)
    return x.float()


SAFETENSORS_DTYPES = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64', torch.float16: 'F16', torch.int32: 'I32'}


def save_safetensors(state_dict, path):
    """The safetensors layout: u64 LE header length, JSON header (padded to 8), raw LE data."""
    header = {'__metadata__': {'format': 'pt'}}
    blobs = []
    offset = 0
    for key, t in state_dict.items():
        data = t.detach().contiguous().cpu().numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()
        header[key] = {'dtype': SAFETENSORS_DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_f32(path, t):
    with open(path, 'wb') as f:
        f.write(t.detach().contiguous().float().numpy().astype('<f4').tobytes())


def main_keys(out, archs):
    keys = {}
    for arch in archs:
        keys[arch] = [[k, list(v.shape)] for k, v in build(arch).state_dict().items()]
    with open(out, 'w') as f:
        json.dump(keys, f)


def main_model(outdir, arch, seed, sizes):
    torch.manual_seed(seed)
    model = build(arch)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.momentum = None  # cumulative average of the batches below
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, 64, 64))
        for m in bns:
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.2)
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
            m.momentum = 0.1
    model.eval()
    sd = model.state_dict()
    torch.save(sd, os.path.join(outdir, f'{arch}.pth'))
    save_safetensors(sd, os.path.join(outdir, f'{arch}.safetensors'))
    meta = {'arch': arch, 'seed': seed, 'sizes': {}}
    with torch.no_grad():
        for size in sizes:
            x = smooth_images(size)
            y = body(model, arch, x)
            write_f32(os.path.join(outdir, f'{arch}_{size}.input.f32'), x.permute(0, 2, 3, 1))
            write_f32(os.path.join(outdir, f'{arch}_{size}.features.f32'), y.permute(0, 2, 3, 1))
            meta['sizes'][str(size)] = {'input': list(x.permute(0, 2, 3, 1).shape), 'features': list(y.permute(0, 2, 3, 1).shape),
                                        'maxAbs': float(y.abs().max()), 'finite': bool(torch.isfinite(y).all())}
    with open(os.path.join(outdir, f'{arch}.json'), 'w') as f:
        json.dump(meta, f)


if __name__ == '__main__':
    torch.set_num_threads(1)
    if sys.argv[1] == 'keys':
        main_keys(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == 'model':
        main_model(sys.argv[2], sys.argv[3], int(sys.argv[4]), [int(s) for s in sys.argv[5:]])
    else:
        sys.exit(f'unknown mode {sys.argv[1]!r}')

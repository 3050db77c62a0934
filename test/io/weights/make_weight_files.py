"""Writes the weight files the tests of src/io/weights read, with the real writers.

Usage: /usr/bin/python3 make_weight_files.py OUT_DIR torch|safetensors|h5 [MARKER_PATH]

  torch        torch.save (zip and legacy), checkpoints, malicious pickles, a TorchScript archive
  safetensors  a .safetensors file written by hand to the format's spec (no safetensors package)
  h5           Keras-layout .h5 files written with h5py (save_weights layout, full-model layout,
               split attributes)

Every mode writes OUT_DIR/expected_<mode>.json: for each file, the arrays it holds as
{name: {"dtype", "shape", "values"}} (values flattened row-major; NaN/Infinity/-0 as strings),
plus whatever else the tests compare (storage keys, whether torch.load(weights_only=True) accepts
the file). MARKER_PATH is the file the malicious pickles would create (they must not).
"""
import collections
import json
import math
import os
import struct
import sys
import zipfile


def encode_values(values):
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append(1 if v else 0)
        elif isinstance(v, float):
            if math.isnan(v):
                out.append('NaN')
            elif math.isinf(v):
                out.append('Infinity' if v > 0 else '-Infinity')
            elif v == 0 and math.copysign(1, v) < 0:
                out.append('-0')
            else:
                out.append(v)
        else:
            out.append(v)
    return out


# --------------------------------------------------------------------------------------------
# PyTorch

def torch_files(out, marker):
    import torch

    def decoded(t):
        return {'float16': 'float32', 'bfloat16': 'float32', 'float32': 'float32', 'float64': 'float64',
                'int64': 'int64', 'int32': 'int32', 'int16': 'int16', 'int8': 'int8', 'uint8': 'uint8',
                'bool': 'bool'}[str(t.dtype).replace('torch.', '')]

    def describe(tensors):
        d = {}
        for name, t in tensors.items():
            t = t.detach()
            flat = (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t).reshape(-1).tolist()
            d[name] = {'dtype': decoded(t), 'shape': list(t.shape), 'values': encode_values(flat)}
        return d

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    model[1].num_batches_tracked += 7
    model[1].running_mean.uniform_(-1, 1)
    sd = model.state_dict()  # an OrderedDict with a _metadata attribute
    base = torch.arange(20, dtype=torch.float32) * 0.5 - 3
    sd['shared.head'] = base[:4]                       # storage offset 0
    sd['shared.view'] = base[4:10].view(2, 3)          # offset 4
    sd['shared.strided'] = base.view(4, 5)[1:, ::2]    # offset 5, strides (5, 2)
    sd['transposed'] = torch.randn(3, 5).t()           # strides (1, 5)
    sd['expanded'] = torch.tensor([[1.5, -2.0, 4.0]]).expand(4, 3)  # strides (0, 1)
    sd['f64'] = torch.randn(2, 2, dtype=torch.float64)
    sd['f16'] = torch.tensor([0.0, -0.0, 1.5, -2.25, 65504.0, 6e-8, 1e-5, float('inf'), float('-inf'), float('nan'), 0.1],
                             dtype=torch.float16)
    sd['bf16'] = torch.tensor([1.0, -3.140625, 1e30, 1e-30, float('-inf'), 0.1], dtype=torch.bfloat16)
    sd['f16_transposed'] = torch.randn(2, 3).half().t()
    sd['i64'] = torch.tensor([[0, -1, 2 ** 40], [-(2 ** 53), 2 ** 53, 7]], dtype=torch.int64)
    sd['i32'] = torch.tensor([-2 ** 31, 2 ** 31 - 1, 5], dtype=torch.int32)
    sd['i16'] = torch.tensor([-32768, 32767, -3], dtype=torch.int16)
    sd['i8'] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    sd['u8'] = torch.tensor([0, 255, 17], dtype=torch.uint8)
    sd['flags'] = torch.tensor([True, False, True])
    sd['scalar'] = torch.tensor(3.25)
    sd['empty'] = torch.zeros(0, 3)
    sd['param'] = torch.nn.Parameter(torch.randn(2))   # saved through _rebuild_parameter
    expected = {}

    def save(name, obj, tensors, legacy=False, **kw):
        path = os.path.join(out, name)
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy, **kw)
        try:
            torch.load(path, weights_only=True)
            weights_only = True
        except Exception:
            weights_only = False
        expected[name] = {'tensors': describe(tensors) if tensors is not None else None, 'weightsOnly': weights_only}

    save('state.zip.pth', sd, sd)
    save('state.legacy.pth', sd, sd, legacy=True)
    save('state.p4.zip.pth', sd, sd, pickle_protocol=4)
    save('state.p4.legacy.pth', sd, sd, legacy=True, pickle_protocol=4)

    # A training checkpoint of a DataParallel model: weights under 'state_dict', keys 'module.…'.
    dp = collections.OrderedDict(('module.' + k, v) for k, v in model.state_dict().items())
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 3, 3)).sum().backward()
    opt.step()
    save('checkpoint.zip.pth', {'epoch': 3, 'arch': 'tiny', 'best_acc': 0.5, 'state_dict': dp,
                                'optimizer': opt.state_dict()}, model.state_dict())
    save('checkpoint.legacy.pth', {'model': model.state_dict(), 'epoch': 1}, model.state_dict(), legacy=True)

    # Two tensors in storages '0' and '1': damaged copies drop or shorten the record of '1'.
    pair = {'a': torch.arange(4, dtype=torch.float32), 'b': torch.arange(6, dtype=torch.float32).view(2, 3)}
    save('pair.zip.pth', pair, pair)
    with zipfile.ZipFile(os.path.join(out, 'pair.zip.pth')) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    prefix = items[0][0].filename.split('/')[0]
    with zipfile.ZipFile(os.path.join(out, 'missing_storage.zip.pth'), 'w', zipfile.ZIP_STORED) as z:
        for info, data in items:
            if info.filename != f'{prefix}/data/1':
                z.writestr(info.filename.replace(prefix, 'missing_storage.zip', 1), data)
    with zipfile.ZipFile(os.path.join(out, 'short_storage.zip.pth'), 'w', zipfile.ZIP_STORED) as z:
        for info, data in items:
            z.writestr(info.filename.replace(prefix, 'short_storage.zip', 1), data[:12] if info.filename == f'{prefix}/data/1' else data)

    # The same pair as a big-endian machine would write it (PyTorch >= 2.1 adds a byteorder record).
    with zipfile.ZipFile(os.path.join(out, 'bigendian.zip.pth'), 'w', zipfile.ZIP_STORED) as z:
        for info, data in items:
            if info.filename.startswith(f'{prefix}/data/'):
                data = bytes(b for i in range(0, len(data), 4) for b in reversed(data[i:i + 4]))
            z.writestr(info.filename.replace(prefix, 'bigendian.zip', 1), data)
        z.writestr('bigendian.zip/byteorder', 'big')
    expected['bigendian.zip.pth'] = {'tensors': describe(pair), 'weightsOnly': None}
    save('tensor.zip.pth', torch.ones(2), None)
    save('not_tensors.zip.pth', {'w': torch.ones(1), 'n': 3}, None)

    # Malicious pickles: torch.load(weights_only=False) would run the command.
    class System:
        def __reduce__(self):
            return (os.system, (f'touch {marker}',))

    class Eval:
        def __reduce__(self):
            return (eval, (f"__import__('os').system('touch {marker}')",))

    class LoadFromBytes:
        def __reduce__(self):
            return (torch.storage._load_from_bytes, (b'not a real storage',))

    save('evil_system.zip.pth', {'w': System()}, None)
    save('evil_system.legacy.pth', {'w': System()}, None, legacy=True)
    save('evil_eval.zip.pth', {'w': Eval()}, None)
    save('evil_eval.p4.zip.pth', {'w': Eval()}, None, pickle_protocol=4)  # protocol 4 names builtins.eval
    save('evil_load_from_bytes.zip.pth', {'w': LoadFromBytes()}, None)
    save('whole_model.zip.pth', model, None)

    # Control: the same kind of file, loaded the unsafe way, does run its command.
    class Control:
        def __reduce__(self):
            return (os.system, (f'touch {marker}.control',))

    control = os.path.join(out, 'control.zip.pth')
    torch.save({'w': Control()}, control)
    torch.load(control, weights_only=False)
    expected['control'] = {'tensors': None, 'weightsOnly': False, 'ran': os.path.exists(marker + '.control')}
    if os.path.exists(marker + '.control'):
        os.remove(marker + '.control')
    os.remove(control)
    torch.jit.save(torch.jit.script(model), os.path.join(out, 'scripted.pt'))

    import pickle
    with open(os.path.join(out, 'plain.pkl'), 'wb') as f:
        pickle.dump({'a': 1}, f, protocol=2)

    expected['state.legacy.pth']['layout'] = legacy_layout(os.path.join(out, 'state.legacy.pth'))
    with open(os.path.join(out, 'expected_torch.json'), 'w') as f:
        json.dump(expected, f)


def legacy_layout(path):
    """Where the parts of a legacy torch.save file are: the ends of its five pickles, the offset of
    a string opcode inside the data pickle, and each storage record (key, dtype, count, start)."""
    import pickle
    import pickletools

    class Layout(pickle.Unpickler):
        """Reads the data pickle without torch: storage types become their names, other globals stubs."""
        storages = {}

        def find_class(self, module, name):
            if (module, name) == ('collections', 'OrderedDict'):
                return collections.OrderedDict
            return name if name.endswith('Storage') else (lambda *args: name)

        def persistent_load(self, pid):
            self.storages[pid[2]] = pid[1]
            return None

    with open(path, 'rb') as f:
        data = f.read()
        f.seek(0)
        ends = []
        for _ in range(3):
            pickle.load(f)
            ends.append(f.tell())
        reader = Layout(f)
        reader.load()
        ends.append(f.tell())
        keys = pickle.load(f)
        ends.append(f.tell())
        string_op = next(pos for op, arg, pos in pickletools.genops(data[ends[2]:ends[3]]) if op.name == 'BINUNICODE' and len(arg) > 3)
        sizes = {'FloatStorage': ('float32', 4), 'LongStorage': ('int64', 8), 'DoubleStorage': ('float64', 8),
                 'HalfStorage': ('float16', 2), 'BFloat16Storage': ('bfloat16', 2), 'IntStorage': ('int32', 4),
                 'ShortStorage': ('int16', 2), 'CharStorage': ('int8', 1), 'ByteStorage': ('uint8', 1), 'BoolStorage': ('bool', 1)}
        records = []
        pos = ends[4]
        for key in keys:
            count = struct.unpack('<q', data[pos:pos + 8])[0]
            dtype, size = sizes[reader.storages[key]]
            records.append({'key': key, 'dtype': dtype, 'count': count, 'start': pos})
            pos += 8 + count * size
        assert pos == len(data)
    return {'pickleEnds': ends, 'dataStringOpcode': ends[2] + string_op, 'records': records}


# --------------------------------------------------------------------------------------------
# safetensors (written by hand: 8-byte little-endian header length, JSON header, data)

SAFETENSORS_DTYPES = {'float32': 'F32', 'float64': 'F64', 'float16': 'F16', 'bfloat16': 'BF16', 'int64': 'I64',
                      'int32': 'I32', 'int16': 'I16', 'int8': 'I8', 'uint8': 'U8', 'bool': 'BOOL'}


def safetensors_tensors():
    import torch
    torch.manual_seed(1)
    return collections.OrderedDict([
        ('conv.weight', torch.randn(2, 3, 3, 3)),
        ('f64', torch.randn(3, dtype=torch.float64)),
        ('f16', torch.tensor([0.0, -0.0, 1.5, 65504.0, 6e-8, float('inf'), float('nan')], dtype=torch.float16)),
        ('bf16', torch.tensor([1.0, -3.140625, 1e30, float('-inf')], dtype=torch.bfloat16)),
        ('bn.num_batches_tracked', torch.tensor(123, dtype=torch.int64)),
        ('i64', torch.tensor([-(2 ** 53), 2 ** 53, -1], dtype=torch.int64)),
        ('i32', torch.tensor([-2 ** 31, 2 ** 31 - 1], dtype=torch.int32)),
        ('i16', torch.tensor([-32768, 7], dtype=torch.int16)),
        ('i8', torch.tensor([-128, 127], dtype=torch.int8)),
        ('u8', torch.tensor([0, 255], dtype=torch.uint8)),
        ('flags', torch.tensor([True, False])),
        ('empty', torch.zeros(0, 4)),
        ('scalar', torch.tensor(-0.5)),
    ])


def safetensors_files(out):
    import torch
    tensors = safetensors_tensors()
    header = {'__metadata__': {'format': 'pt', 'source': 'make_weight_files.py'}}
    blobs = []
    offset = 0
    expected = {}
    for name, t in tensors.items():
        dtype = str(t.dtype).replace('torch.', '')
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).contiguous().numpy().tobytes()
        header[name] = {'dtype': SAFETENSORS_DTYPES[dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
        flat = (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t).reshape(-1).tolist()
        expected[name] = {'dtype': 'float32' if dtype in ('float16', 'bfloat16') else dtype, 'shape': list(t.shape),
                          'storedDtype': SAFETENSORS_DTYPES[dtype], 'values': encode_values(flat), 'hex': raw.hex()}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)  # the reference writer pads the header with spaces to 8 bytes
    with open(os.path.join(out, 'model.safetensors'), 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))
    with open(os.path.join(out, 'expected_safetensors.json'), 'w') as f:
        json.dump({'model.safetensors': {'tensors': expected, 'metadata': header['__metadata__']}}, f)


# --------------------------------------------------------------------------------------------
# Keras .h5, in the layout of Keras 2's save_weights / model.save (hdf5_format.py)

def h5_files(out):
    import h5py
    import numpy as np
    rng = np.random.default_rng(2)
    layers = collections.OrderedDict([
        ('conv2d', [('conv2d/kernel:0', rng.standard_normal((3, 3, 3, 4)).astype(np.float32)),
                    ('conv2d/bias:0', rng.standard_normal(4).astype(np.float32))]),
        ('batch_normalization', [('batch_normalization/gamma:0', rng.standard_normal(4).astype(np.float32)),
                                 ('batch_normalization/beta:0', rng.standard_normal(4).astype(np.float32)),
                                 ('batch_normalization/moving_mean:0', rng.standard_normal(4).astype(np.float32)),
                                 ('batch_normalization/moving_variance:0', rng.random(4).astype(np.float32))]),
        ('flatten', []),
        ('dense', [('dense/kernel:0', rng.standard_normal((4, 2)).astype(np.float64)),
                   ('dense/bias:0', np.array([0.0, -0.0], np.float32)),
                   ('dense/steps:0', np.array(42, np.int64))]),
    ])

    def save_attributes(group, name, data, chunks):
        # hdf5_format.save_attributes_to_hdf5_group: a list of bytes; above 64 KB it is split
        # into name0, name1, … (forced here with `chunks` to keep the file small).
        array = np.asarray(data)
        if chunks == 1:
            group.attrs[name] = array
        else:
            for i, part in enumerate(np.array_split(array, chunks)):
                group.attrs[f'{name}{i}'] = part

    def save_weights(group, chunks=1):
        save_attributes(group, 'layer_names', [n.encode('utf8') for n in layers], chunks)
        group.attrs['backend'] = b'tensorflow'
        group.attrs['keras_version'] = b'2.11.0'
        for layer, weights in layers.items():
            g = group.create_group(layer)
            names = [w.encode('utf8') for w, _ in weights]
            # a layer without weights gets an empty float array, as Keras writes it
            save_attributes(g, 'weight_names', names if names else np.array([]), chunks if len(names) >= chunks else 1)
            for w, value in weights:
                d = g.create_dataset(w, value.shape, dtype=value.dtype)
                d[()] = value

    expected_layers = {
        layer: [{'name': w, 'dtype': str(v.dtype), 'shape': list(v.shape), 'values': encode_values(v.reshape(-1).tolist())}
                for w, v in weights]
        for layer, weights in layers.items()}
    with h5py.File(os.path.join(out, 'weights.h5'), 'w') as f:
        save_weights(f)
    with h5py.File(os.path.join(out, 'model.h5'), 'w') as f:
        f.attrs['model_config'] = json.dumps({'class_name': 'Sequential'}).encode('utf8')
        f.attrs['keras_version'] = b'2.11.0'
        save_weights(f.create_group('model_weights'))
        f.create_group('optimizer_weights')
    with h5py.File(os.path.join(out, 'split.h5'), 'w') as f:
        save_weights(f, chunks=2)
    with h5py.File(os.path.join(out, 'not_keras.h5'), 'w') as f:
        f.create_dataset('x', data=np.zeros(3))
    with h5py.File(os.path.join(out, 'missing_dataset.h5'), 'w') as f:
        save_weights(f)
        del f['dense/dense/bias:0']
    with open(os.path.join(out, 'expected_h5.json'), 'w') as f:
        json.dump({name: expected_layers for name in ('weights.h5', 'model.h5', 'split.h5')}, f)


if __name__ == '__main__':
    out_dir, mode = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    if mode == 'torch':
        torch_files(out_dir, sys.argv[3])
    elif mode == 'safetensors':
        safetensors_files(out_dir)
    elif mode == 'h5':
        h5_files(out_dir)
    else:
        raise SystemExit(f'unknown mode {mode!r}')

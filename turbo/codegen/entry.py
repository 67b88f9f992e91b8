"""The fast call path: a CPython entry point emitted as machine code.

For each kernel we emit a ``METH_FASTCALL | METH_KEYWORDS`` C function

    PyObject *entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)

that CPython calls directly (vectorcall), with no Python frame, no ctypes and no
argument tuple. It reads NumPy's array struct (whose layout is NumPy's stable ABI,
checked at import by ``runtime.fastcall.layout_ok``), checks every argument and
binds the dims, picks the compiled variant for the arguments' layout and aliasing
from a table, and calls it.

It accepts only the common case (exact ``ndarray``\\s with the canonical dtype
object, aligned, writeable where written; exact ``float``/``int``/``bool``
scalars, and NumPy scalars of the parameter's type). Anything else -- a wrong
argument, an unusual but valid one, or a variant not compiled yet -- goes to
the slow path: ``self`` is a tuple
``(slow, raise_error)`` of Python callables, and ``slow(*args)`` does the full
check (raising the located error), compiles the variant, records it in the table
and makes the call. A kernel that fails at run time calls ``raise_error(err)``
with the address of its error record. A kernel with a result stores it in a stack
slot; the entry returns it as a Python ``float``, ``int`` or ``bool``.
"""

from __future__ import annotations

from llvmlite import ir as ll

from .. import ir
from ..ir import DType
from .abi import ERR_FIELDS, layout_bits, slot_count
from .cpu import F64, I8, I32, I64, MEM_TYPES, PTR

# CPython / NumPy struct offsets (64-bit GIL builds; verified at run time).
OB_TYPE = 8
TUPLE_ITEMS = 24
FLOAT_VALUE = 16
ARR_DATA, ARR_ND, ARR_DIMS, ARR_STRIDES, ARR_DESCR, ARR_FLAGS = 16, 24, 32, 40, 56, 64
NPY_C_CONTIGUOUS = 0x0001
NPY_ALIGNED = 0x0100
NPY_WRITEABLE = 0x0400

_DESCR_SYMBOL = {t: f"turbo_descr_{t.numpy_name}" for t in DType}
_NUMPY_SCALAR_SYMBOL = {t: f"turbo_np_{t.numpy_name}_Type" for t in DType}


class _EntryBuilder:
    def __init__(self, kernel: ir.Kernel, written: frozenset[str], module: ll.Module, name: str, slots_name: str,
                 overlap: frozenset[str] = frozenset()):
        self.kernel = kernel
        self.written = written
        self.overlap = written | overlap  # arrays whose memory overlapping another's selects the aliasing slot
        self.module = module
        fnty = ll.FunctionType(PTR, [PTR, PTR, I64, PTR])
        self.fn = ll.Function(module, fnty, name)
        self.fn.attributes.add("nounwind")
        self.self_arg, self.args, self.nargs, self.kwnames = self.fn.args
        n_slots = slot_count(len(kernel.arrays))
        self.slots = ll.GlobalVariable(module, ll.ArrayType(PTR, n_slots), slots_name)
        self.slots.initializer = ll.Constant(ll.ArrayType(PTR, n_slots), None)
        self.slots.align = 8
        self.b = ll.IRBuilder(self.fn.append_basic_block("entry"))
        self.slow_bb = self.fn.append_basic_block("slow")

    def extern_global(self, name: str) -> ll.GlobalVariable:
        g = self.module.globals.get(name)
        if g is None:
            g = ll.GlobalVariable(self.module, I8, name)
            g.linkage = "external"
        return g

    def extern_fn(self, name: str, ret, args) -> ll.Function:
        f = self.module.globals.get(name)
        return f if f is not None else ll.Function(self.module, ll.FunctionType(ret, args), name)

    def field(self, obj, offset: int, typ):
        """Load a struct field at a byte offset (8-byte fields, or a 4-byte int)."""
        addr = self.b.gep(obj, [ll.Constant(I64, offset)], inbounds=True, source_etype=I8)
        return self.b.load(addr, typ=typ, align=4 if typ == I32 else 8)

    def require(self, ok) -> None:
        cont = self.fn.append_basic_block("ok")
        self.b.cbranch(ok, cont, self.slow_bb)
        self.b.position_at_end(cont)

    def build(self) -> ll.Function:
        b = self.b
        k = self.kernel
        self.require(b.icmp_unsigned("==", self.kwnames, ll.Constant(PTR, None)))  # keywords: bound in Python
        self.require(b.icmp_signed("==", self.nargs, ll.Constant(I64, len(k.params))))
        dims: dict[str, ll.Value] = {}
        arrays = []  # (param, data, strides list, dim values, contiguous bit)
        scalars = []
        for pos, p in enumerate(k.params):
            obj = b.load(b.gep(self.args, [ll.Constant(I64, pos)], inbounds=True, source_etype=PTR), typ=PTR, align=8)
            tp = self.field(obj, OB_TYPE, PTR)
            if isinstance(p, ir.ArrayParam):
                arrays.append(self.array(p, obj, tp, dims))
            else:
                scalars.append(self.scalar(p, obj, tp))
        slot = self.slot_index(arrays)
        fn_ptr = b.load(b.gep(self.slots, [ll.Constant(I64, 0), slot], inbounds=True, source_etype=self.slots.value_type), typ=PTR, align=8)
        self.require(b.icmp_unsigned("!=", fn_ptr, ll.Constant(PTR, None)))
        err = b.alloca(ll.ArrayType(I64, ERR_FIELDS))
        call_args = []
        for _, data, strides, _, _ in arrays:
            call_args.append(data)
            call_args.extend(strides)
        call_args.extend(dims[d] for d in k.dims)
        call_args.extend(scalars)
        result = None
        if k.result is not None:
            result = b.alloca(MEM_TYPES[k.result])
            call_args.append(result)
        call_args.append(err)
        variant_ty = ll.FunctionType(I32, [a.type for a in call_args])
        status = b.call(_FnPtr(fn_ptr, variant_ty), call_args)
        failed_bb = self.fn.append_basic_block("failed")
        done_bb = self.fn.append_basic_block("done")
        b.cbranch(b.icmp_signed("!=", status, ll.Constant(I32, 0)), failed_bb, done_bb)
        b.position_at_end(done_bb)
        b.ret(self.box_result(result))
        # run-time error: hand the error record to raise_error(address)
        b.position_at_end(failed_bb)
        handler = self.field(self.self_arg, TUPLE_ITEMS + 8, PTR)
        addr = b.call(self.extern_fn("turbo_PyLong_FromVoidPtr", PTR, [PTR]), [err])
        fail_null = self.fn.append_basic_block("no_memory")
        have_addr = self.fn.append_basic_block("raise")
        b.cbranch(b.icmp_unsigned("==", addr, ll.Constant(PTR, None)), fail_null, have_addr)
        b.position_at_end(fail_null)
        b.ret(ll.Constant(PTR, None))  # PyLong_FromVoidPtr has set MemoryError
        b.position_at_end(have_addr)
        argv = b.alloca(PTR)
        b.store(addr, argv)
        vectorcall = self.extern_fn("turbo_PyObject_Vectorcall", PTR, [PTR, PTR, I64, PTR])
        res = b.call(vectorcall, [handler, argv, ll.Constant(I64, 1), ll.Constant(PTR, None)])
        b.call(self.extern_fn("turbo_Py_DecRef", ll.VoidType(), [PTR]), [addr])
        b.ret(res)
        # anything unusual: slow(*args, **kwargs) binds, checks, compiles, calls, or raises
        b.position_at_end(self.slow_bb)
        slow = self.field(self.self_arg, TUPLE_ITEMS, PTR)
        b.ret(b.call(vectorcall, [slow, self.args, self.nargs, self.kwnames]))
        return self.fn

    def box_result(self, slot):
        """The Python object a successful call returns: None, or the result."""
        b = self.b
        t = self.kernel.result
        if t is None or t is DType.BOOL:
            if t is None:
                obj = self.extern_global("turbo_Py_None")
            else:
                is_true = b.icmp_unsigned("!=", b.load(slot, typ=I8), ll.Constant(I8, 0))
                obj = b.select(is_true, self.extern_global("turbo_Py_True"), self.extern_global("turbo_Py_False"))
            b.call(self.extern_fn("turbo_Py_IncRef", ll.VoidType(), [PTR]), [obj])
            return obj
        v = b.load(slot, typ=MEM_TYPES[t], align=t.itemsize)
        if t.is_float:  # NULL with MemoryError set on failure, which CPython expects
            return b.call(self.extern_fn("turbo_PyFloat_FromDouble", PTR, [F64]), [b.fpext(v, F64) if t is DType.F32 else v])
        return b.call(self.extern_fn("turbo_PyLong_FromLongLong", PTR, [I64]), [b.sext(v, I64) if t is DType.I32 else v])

    def array(self, p: ir.ArrayParam, obj, tp, dims):
        b = self.b
        self.require(b.icmp_unsigned("==", tp, self.extern_global("turbo_PyArray_Type")))
        descr = self.field(obj, ARR_DESCR, PTR)
        self.require(b.icmp_unsigned("==", descr, self.extern_global(_DESCR_SYMBOL[p.dtype])))
        nd = self.field(obj, ARR_ND, I32)
        self.require(b.icmp_signed("==", nd, ll.Constant(I32, p.ndim)))
        flags = self.field(obj, ARR_FLAGS, I32)
        need = NPY_ALIGNED | (NPY_WRITEABLE if p.name in self.written else 0)
        self.require(b.icmp_unsigned("==", b.and_(flags, ll.Constant(I32, need)), ll.Constant(I32, need)))
        data = self.field(obj, ARR_DATA, PTR)
        dims_ptr = self.field(obj, ARR_DIMS, PTR)
        strides_ptr = self.field(obj, ARR_STRIDES, PTR)
        dim_vals, strides = [], []
        for axis, d in enumerate(p.shape):
            v = b.load(b.gep(dims_ptr, [ll.Constant(I64, axis)], inbounds=True, source_etype=I64), typ=I64, align=8)
            if isinstance(d, int):
                self.require(b.icmp_signed("==", v, ll.Constant(I64, d)))
            elif d in dims:
                self.require(b.icmp_signed("==", v, dims[d]))
            else:
                dims[d] = v
            dim_vals.append(v)
            strides.append(b.load(b.gep(strides_ptr, [ll.Constant(I64, axis)], inbounds=True, source_etype=I64), typ=I64, align=8))
        contig = b.icmp_unsigned("!=", b.and_(flags, ll.Constant(I32, NPY_C_CONTIGUOUS)), ll.Constant(I32, 0))
        return p, data, strides, dim_vals, contig

    def scalar(self, p: ir.ScalarParam, obj, tp):
        """A scalar argument's value: a Python ``float`` / ``int`` / ``bool``, or the
        NumPy scalar of the parameter's own type (``np.float32`` for an f32
        parameter; ``x.sum()`` of a float64 array is an ``np.float64``), whose value
        sits at the same offset (NumPy's ``Py<Type>ScalarObject``: the object head,
        then ``obval``). A NumPy scalar of another type takes the slow path, which
        converts it as the signature it belongs to requires."""
        b = self.b
        t = p.dtype
        mine = b.icmp_unsigned("==", tp, self.extern_global(_NUMPY_SCALAR_SYMBOL[t]))
        if t.is_float:
            py = b.icmp_unsigned("==", tp, self.extern_global("turbo_PyFloat_Type"))
            self.require(b.or_(py, mine))
            v = self.field(obj, FLOAT_VALUE, F64)  # np.float64 is a float: the same layout
            if t is DType.F64:
                return v
            return b.select(mine, self.field(obj, FLOAT_VALUE, MEM_TYPES[t]), b.fptrunc(v, MEM_TYPES[t]))
        if t is DType.BOOL:
            py = b.icmp_unsigned("==", tp, self.extern_global("turbo_PyBool_Type"))
            self.require(b.or_(py, mine))
            is_true = b.icmp_unsigned("==", obj, self.extern_global("turbo_Py_True"))
            raw = self.field(obj, FLOAT_VALUE, I8)
            return b.select(mine, b.zext(b.icmp_unsigned("!=", raw, ll.Constant(I8, 0)), I8), b.zext(is_true, I8))
        # an integer: NumPy's value read directly, a Python int converted by CPython
        numpy_bb = self.fn.append_basic_block("numpy_int")
        python_bb = self.fn.append_basic_block("python_int")
        done_bb = self.fn.append_basic_block("int_done")
        b.cbranch(mine, numpy_bb, python_bb)
        b.position_at_end(numpy_bb)
        from_numpy = self.field(obj, FLOAT_VALUE, MEM_TYPES[t])
        b.branch(done_bb)
        b.position_at_end(python_bb)
        self.require(b.icmp_unsigned("==", tp, self.extern_global("turbo_PyLong_Type")))
        overflow = b.alloca(I32)
        conv = self.extern_fn("turbo_PyLong_AsLongLongAndOverflow", I64, [PTR, PTR])
        v = b.call(conv, [obj, overflow])
        self.require(b.icmp_signed("==", b.load(overflow, typ=I32), ll.Constant(I32, 0)))
        if t is DType.I32:
            self.require(b.icmp_signed("==", b.sext(b.trunc(v, I32), I64), v))
            v = b.trunc(v, I32)
        from_python = b.block
        b.branch(done_bb)
        b.position_at_end(done_bb)
        value = b.phi(MEM_TYPES[t])
        value.add_incoming(from_numpy, numpy_bb)
        value.add_incoming(v, from_python)
        return value

    def slot_index(self, arrays):
        """Layout bits (C-contiguous per array) plus the may-alias bit."""
        b = self.b
        n = len(arrays)
        bits = layout_bits(n)
        slot = ll.Constant(I64, 0)
        if bits == n:
            for i, (_, _, _, _, contig) in enumerate(arrays):
                slot = b.or_(slot, b.shl(b.zext(contig, I64), ll.Constant(I64, i)))
        else:
            all_c = ll.Constant(ll.IntType(1), 1)
            for a in arrays:
                all_c = b.and_(all_c, a[4])
            slot = b.zext(all_c, I64)
        alias = self.may_alias(arrays)
        return b.or_(slot, b.shl(b.zext(alias, I64), ll.Constant(I64, bits)))

    def may_alias(self, arrays):
        """Whether any written array's memory overlaps another argument's."""
        b = self.b
        extents = [self.extent(p, data, strides, dim_vals) for p, data, strides, dim_vals, _ in arrays]
        alias = ll.Constant(ll.IntType(1), 0)
        for i, (pi, *_rest) in enumerate(arrays):
            for j in range(i + 1, len(arrays)):
                pj = arrays[j][0]
                if pi.name not in self.overlap and pj.name not in self.overlap:
                    continue
                (lo_i, hi_i), (lo_j, hi_j) = extents[i], extents[j]
                overlap = b.and_(b.icmp_unsigned("<", lo_i, hi_j), b.icmp_unsigned("<", lo_j, hi_i))
                alias = b.or_(alias, overlap)
        return alias

    def extent(self, p, data, strides, dim_vals):
        """[lo, hi) byte addresses the array touches; empty (lo == hi) if any dim is 0."""
        b = self.b
        base = b.ptrtoint(data, I64)
        zero = ll.Constant(I64, 0)
        lo_off, hi_off = zero, ll.Constant(I64, p.dtype.itemsize)
        empty = ll.Constant(ll.IntType(1), 0)
        for d, s in zip(dim_vals, strides):
            empty = b.or_(empty, b.icmp_signed("==", d, zero))
            span = b.mul(b.sub(d, ll.Constant(I64, 1)), s)
            neg = b.icmp_signed("<", span, zero)
            lo_off = b.add(lo_off, b.select(neg, span, zero))
            hi_off = b.add(hi_off, b.select(neg, zero, span))
        lo = b.add(base, lo_off)
        hi = b.select(empty, lo, b.add(base, hi_off))
        return lo, hi


class _FnPtr:
    """Adapter letting llvmlite's ``IRBuilder.call`` call through a function
    pointer: the call site needs the callee's function type, which an opaque
    pointer value does not carry."""

    def __init__(self, value, fnty):
        self._value = value
        self.function_type = fnty
        self.type = PTR

    def get_reference(self):
        return self._value.get_reference()

    @property
    def name(self):
        return self._value.name


def build_entry(kernel: ir.Kernel, written: frozenset[str], module: ll.Module, name: str, slots_name: str,
                overlap: frozenset[str] = frozenset()) -> ll.Function:
    return _EntryBuilder(kernel, written, module, name, slots_name, overlap).build()

/// The one place that knows which functions are "allocator plumbing": code
/// between the agent's hook and the function that really asked for memory.
///
/// **Caller rule.** Walk the stack innermost first. Skip every frame that is
///  1. in the drip agent (module path ending in `libdrip-agent.so`), or
///  2. owned by an allocator wrapper (`isWrapper`): malloc and friends, libc
///     helpers that return malloc'd memory (strdup, asprintf, getline,
///     open_memstream, realpath...), C++ `operator new` and `std` allocators,
///     and the Swift runtime's object allocation.
/// The first frame left is the caller. The wrapper reported with it is the
/// outermost plumbing frame passed (the function the caller called), so a
/// leak reads `snmp_object_create_list → strdup`, not `→ malloc`. For inlined
/// code the owning (outermost) function decides, because that is the frame
/// really on the stack. Unresolved frames are never plumbing: unknown code
/// might be the leaker, so it is shown rather than skipped.
public enum AllocatorPlumbing {
    /// Exact function names (demangled or C), after `normalizedName(_:)`.
    public static let wrapperNames: Set<String> = [
        // C allocation API (glibc names and internal aliases).
        "malloc", "calloc", "realloc", "reallocarray", "free", "memalign", "aligned_alloc",
        "posix_memalign", "valloc", "pvalloc",
        "__libc_malloc", "__libc_calloc", "__libc_realloc", "__libc_memalign", "__libc_valloc",
        "__libc_pvalloc", "__libc_reallocarray", "__libc_free", "__posix_memalign",
        // libc functions whose result the caller owns.
        "strdup", "strndup", "__strdup", "__strndup", "wcsdup", "__wcsdup",
        "asprintf", "vasprintf", "__asprintf", "___asprintf", "__vasprintf", "__vasprintf_internal",
        "__asprintf_chk", "__vasprintf_chk", "__vasprintf_chk_internal",
        "getline", "getdelim", "__getdelim", "_IO_getdelim", "open_memstream", "open_wmemstream",
        "realpath", "__realpath", "canonicalize_file_name", "get_current_dir_name", "tempnam",
        // Common "x" wrappers that abort on failure (GNU coreutils, bash, git...).
        "xmalloc", "xcalloc", "xrealloc", "xstrdup", "xstrndup", "xzalloc", "xmemdup",
        // GLib.
        "g_malloc", "g_malloc0", "g_realloc", "g_try_malloc", "g_try_malloc0", "g_strdup", "g_strndup",
        // CPython's allocator layers (embedded interpreters, extension modules).
        "PyMem_Malloc", "PyMem_Calloc", "PyMem_Realloc", "PyMem_RawMalloc", "PyMem_RawCalloc", "PyMem_RawRealloc",
        "_PyMem_RawMalloc", "_PyMem_RawCalloc", "_PyMem_RawRealloc", "PyObject_Malloc", "PyObject_Calloc",
        "PyObject_Realloc", "_PyObject_Malloc", "_PyObject_Calloc", "_PyObject_Realloc", "pymalloc_alloc",
        // C++ operator new in every variant, demangled (parameters are dropped by normalizing).
        "operator new", "operator new[]",
        // Swift runtime allocation (C entry points and their C++ spellings).
        "swift_slowAlloc", "swift_allocObject", "_swift_allocObject_", "swift_allocBox",
        "swift_allocEmptyBox", "swift_initStackObject", "swift::swift_slowAlloc",
        "swift_slowAllocTyped",
    ]

    /// Mangled prefixes: Itanium `operator new` / `new[]` (`_Znwm`, `_Znam`, and
    /// their `nothrow_t` / `align_val_t` variants all start so).
    public static let wrapperPrefixes: [String] = ["_Znwm", "_Znam", "_Znwj", "_Znaj"]

    /// C++ allocator classes whose `allocate` member is plumbing:
    /// `std::allocator<char>::allocate(unsigned long)`, `__gnu_cxx::new_allocator<T>::allocate`...
    public static let allocatorClasses: [String] = [
        "std::allocator<", "std::__new_allocator<", "__gnu_cxx::new_allocator<",
        "std::allocator_traits<", "__gnu_cxx::__alloc_traits<", "std::__allocator_traits_base",
    ]

    /// Swift standard-library storage: the buffers behind Array, Dictionary, Set
    /// and String. Growing one is the Swift twin of `std::vector`'s
    /// `_M_allocate`: the code that appended is the caller.
    public static let swiftStorageTypes: Set<String> = [
        "_ContiguousArrayBuffer", "_ArrayBuffer", "_ContiguousArrayStorage", "_DictionaryStorage", "_NativeDictionary",
        "_SetStorage", "_NativeSet", "__StringStorage", "__SharedStringStorage", "_StringGuts", "_HashTable",
    ]
    static let swiftCollections: Set<String> = ["Array", "ContiguousArray", "ArraySlice", "Dictionary", "Set", "String"]
    static let swiftGrowingMethods: Set<String> = ["append", "reserveCapacity", "insert", "updateValue"]

    /// `_ContiguousArrayBuffer._consumeAndCreateNew`, `Array._createNewBuffer`,
    /// `specialized Array.append`, `_allocateUninitializedArray`... (normalized names).
    static func isSwiftCollectionGrowth(_ name: String) -> Bool {
        var n = Substring(name)
        for prefix in ["specialized ", "merged ", "generic specialization "] where n.hasPrefix(prefix) {
            n = n.dropFirst(prefix.count)
        }
        if n == "_allocateUninitializedArray" { return true }
        let parts = n.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let type = parts[0].split(separator: "<").first.map(String.init) else { return false }
        if swiftStorageTypes.contains(type) { return true }
        let method = String(parts[1])
        return swiftCollections.contains(type) && (method.hasPrefix("_") || swiftGrowingMethods.contains(method))
    }

    /// True when `path` is drip's own preloaded agent.
    public static func isAgentModule(_ path: String?) -> Bool {
        guard let path else { return false }
        return path.hasSuffix("libdrip-agent.so") || path.hasSuffix("libdrip-agent.so (deleted)")
    }

    /// True for a function name (mangled or demangled) that is allocator plumbing.
    public static func isWrapper(_ function: String) -> Bool {
        for prefix in wrapperPrefixes where function.hasPrefix(prefix) { return true }
        let name = normalizedName(function)
        if wrapperNames.contains(name) { return true }
        // A Swift class's allocating initializer (`Session.__allocating_init()`) only
        // calls swift_allocObject and init: the code that wrote `Session()` is the caller.
        if name.hasSuffix(".__allocating_init") || name == "__allocating_init" { return true }
        if isSwiftCollectionGrowth(name) { return true }
        if name.hasSuffix("::allocate") || name.hasSuffix("::_M_allocate") {
            return allocatorClasses.contains { name.hasPrefix($0) } || name.hasPrefix("std::_Vector_base<")
        }
        return false
    }

    /// True when a frame is in the agent or owned by a wrapper.
    public static func isPlumbing(_ frame: SymbolizedFrame) -> Bool {
        if isAgentModule(frame.module) { return true }
        guard let owner = frame.owningFunction else { return false }
        return isWrapper(owner)
    }

    /// Picks the caller in a stack (innermost first) by the rule above; nil when
    /// the stack is empty or every frame is plumbing.
    public static func selectCaller(in stack: [SymbolizedFrame]) -> CallerSelection? {
        var wrapper: String?
        for (index, frame) in stack.enumerated() {
            guard isPlumbing(frame) else { return CallerSelection(index: index, wrapper: wrapper) }
            if let owner = frame.owningFunction { wrapper = displayName(owner) }
        }
        return nil
    }

    /// The name without parameters, return type, symbol version or PLT suffix:
    /// `operator new(unsigned long, std::nothrow_t const&)` → `operator new`,
    /// `malloc@plt` → `malloc`, `strdup@@GLIBC_2.2.5` → `strdup`,
    /// `swift::swift_slowAlloc(unsigned long, unsigned long)` → `swift::swift_slowAlloc`.
    public static func normalizedName(_ function: String) -> String {
        var name = Substring(function)
        if let at = name.firstIndex(of: "@") { name = name[..<at] }
        // Cut the parameter list: the first "(" outside template arguments.
        var depth = 0
        var cut = name.endIndex
        for index in name.indices {
            switch name[index] {
            case "<": depth += 1
            case ">": depth -= 1
            case "(" where depth == 0: cut = index
            default: break
            }
            if cut != name.endIndex { break }
        }
        return String(name[..<cut]).trimmingSpaces
    }

    /// How a wrapper is shown: normalized, and `operator new` for its mangled forms.
    static func displayName(_ function: String) -> String {
        if function.hasPrefix("_Znw") { return "operator new" }
        if function.hasPrefix("_Zna") { return "operator new[]" }
        return normalizedName(function)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

/// Which frame of an allocation stack is "the caller" drip charges the memory to.
public struct CallerSelection: Sendable, Hashable {
    /// Index into the stack (innermost first) of the first frame that is not plumbing.
    public var index: Int
    /// The allocator entry point the caller went through (`strdup`, `operator new`,
    /// `malloc`...): the plumbing frame just inside the caller; nil when the caller
    /// is the innermost frame.
    public var wrapper: String?

    public init(index: Int, wrapper: String?) {
        self.index = index; self.wrapper = wrapper
    }
}

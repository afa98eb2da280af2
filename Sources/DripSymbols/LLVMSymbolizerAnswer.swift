/// One line of `llvm-symbolizer --output-style=JSON` output, e.g.
/// `{"Address":"0x1167","ModuleName":"/x","Symbol":[{"FunctionName":"func",
/// "FileName":"/x.c","Line":4,"Column":43,"StartAddress":"0x1167",...}]}`
/// or `{"Address":"0x10","Error":{"Message":"No such file or directory"},...}`.
struct LLVMSymbolizerAnswer: Decodable {
    struct Entry: Decodable {
        var FunctionName: String?
        var FileName: String?
        var Line: Int?
        var Column: Int?
        var StartAddress: String?
    }

    struct Failure: Decodable {
        var Message: String?
    }

    /// Innermost (inlined) first, the owning function last.
    var Symbol: [Entry]?
    var Error: Failure?
}

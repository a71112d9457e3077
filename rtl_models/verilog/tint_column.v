// One column of the ternary MAC array (TINT core) of attnsim's rtl_models:
// R ternary selectors (+a, -a or 0), a pipelined R-input adder tree and an accumulator.
// Register for register the same as rtl_models.ternary_mac.TernaryColumnModel, so the two
// are compared cycle by cycle (tests/rtl_models/test_rtl_verilog.py).
//
// Pipeline: operand stage (selector outputs registered) -> ceil(log2 R) tree levels, each
// registered -> accumulator. A result is in `acc` pipeline_depth - 1 = ceil(log2 R) + 1
// clock edges after the edge that captured its last R-slice.
//
// Weight codes (2 bits per lane): 2'b01 = +1, 2'b11 = -1, 2'b00 or 2'b10 = 0 (gated).
`default_nettype none

module tint_column #(
    parameter integer R    = 8,   // reduction lanes, >= 1
    parameter integer AW   = 8,   // activation width (two's complement)
    parameter integer ACCW = 32   // accumulator width (wraps on overflow)
) (
    input  wire                   clk,
    input  wire                   rst,       // synchronous, active high
    input  wire                   in_valid,  // this cycle's slice is real data
    input  wire                   in_first,  // first slice of a new output: load, not add
    input  wire [R*AW-1:0]        acts,      // lane i at [i*AW +: AW]
    input  wire [2*R-1:0]         wcodes,    // lane i at [2*i +: 2]
    output reg  signed [ACCW-1:0] acc,
    output reg                    acc_valid
);
    localparam integer LEVELS = (R <= 1) ? 0 : $clog2(R);
    localparam integer W      = 1 << LEVELS;        // leaves, padded to a power of two
    localparam integer NODES  = 2 * W - 1;          // heap order: children of n are 2n+1, 2n+2
    localparam integer SW     = AW + 1 + LEVELS;    // a sum that can never overflow

    reg signed [SW-1:0] node [0:NODES-1];
    reg [LEVELS:0] valid_pipe;
    reg [LEVELS:0] first_pipe;

    integer i;
    always @(posedge clk) begin
        if (rst) begin
            for (i = 0; i < NODES; i = i + 1) node[i] <= 0;
            valid_pipe <= 0;
            first_pipe <= 0;
            acc        <= 0;
            acc_valid  <= 1'b0;
        end else begin
            // accumulator: takes the root's sum when a valid value reaches it
            if (valid_pipe[LEVELS])
                acc <= first_pipe[LEVELS] ? {{(ACCW-SW){node[0][SW-1]}}, node[0]}
                                          : acc + {{(ACCW-SW){node[0][SW-1]}}, node[0]};
            acc_valid <= valid_pipe[LEVELS];
            // tree levels: every internal node registers the sum of its children
            for (i = 0; i < W - 1; i = i + 1)
                node[i] <= node[2 * i + 1] + node[2 * i + 2];
            // operand stage: the selectors (padded lanes hold zero)
            for (i = 0; i < W; i = i + 1) begin
                if (i >= R)
                    node[W - 1 + i] <= 0;
                else if (wcodes[2 * i +: 2] == 2'b01)
                    node[W - 1 + i] <= {{(SW-AW){acts[i * AW + AW - 1]}}, acts[i * AW +: AW]};
                else if (wcodes[2 * i +: 2] == 2'b11)
                    node[W - 1 + i] <= -{{(SW-AW){acts[i * AW + AW - 1]}}, acts[i * AW +: AW]};
                else
                    node[W - 1 + i] <= 0;
            end
            valid_pipe <= (valid_pipe << 1) | in_valid;
            first_pipe <= (first_pipe << 1) | in_first;
        end
    end
endmodule

`default_nettype wire

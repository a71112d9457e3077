// Testbench for tint_column: reads one line of stimulus per clock cycle from the file
// named by +stim=..., "valid first acts_hex wcodes_hex", drives it before the rising
// edge, and after each edge prints "cycle acc_valid acc" for the Python comparison.
`timescale 1ns/1ps
`default_nettype none

module tb_tint_column;
    parameter integer R = 8;
    localparam integer AW = 8;
    localparam integer ACCW = 32;

    reg clk = 1'b0;
    reg rst = 1'b1;
    reg in_valid = 1'b0;
    reg in_first = 1'b0;
    reg [R*AW-1:0] acts = 0;
    reg [2*R-1:0] wcodes = 0;
    wire signed [ACCW-1:0] acc;
    wire acc_valid;

    tint_column #(.R(R), .AW(AW), .ACCW(ACCW)) dut (
        .clk(clk), .rst(rst), .in_valid(in_valid), .in_first(in_first),
        .acts(acts), .wcodes(wcodes), .acc(acc), .acc_valid(acc_valid)
    );

    integer fd, n, cycle, v, f;
    reg [1023:0] path;
    reg [R*AW-1:0] a_in;
    reg [2*R-1:0] w_in;

    initial begin
        if (!$value$plusargs("stim=%s", path)) begin
            $display("ERROR no +stim=FILE");
            $finish;
        end
        fd = $fopen(path, "r");
        // two reset edges
        #1 clk = 1; #1 clk = 0; #1 clk = 1; #1 clk = 0;
        rst = 1'b0;
        cycle = 0;
        n = $fscanf(fd, "%d %d %h %h\n", v, f, a_in, w_in);
        while (n == 4) begin
            in_valid = v[0];
            in_first = f[0];
            acts = a_in;
            wcodes = w_in;
            #1 clk = 1;
            #1 $display("%0d %0d %0d", cycle, acc_valid, acc);
            clk = 0;
            cycle = cycle + 1;
            n = $fscanf(fd, "%d %d %h %h\n", v, f, a_in, w_in);
        end
        $fclose(fd);
        $finish;
    end
endmodule

`default_nettype wire

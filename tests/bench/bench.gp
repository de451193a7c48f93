# bench.gp - the plot of make bench: median ns/op against pool size, one panel per workload,
# one line per allocator. Reads build/bench/bench.dat; writes build/bench/bench.png.
set terminal pngcairo size 1200,900 font ",10"
set output "build/bench/bench.png"
set multiplot layout 2,2 title "make bench: median ns per operation against pool size (log scales)"
set logscale xy
set xrange [0.7:180]
set xtics ("1 MiB" 1, "16 MiB" 16, "128 MiB" 128)
set ylabel "ns/op"
set key top left
set grid
names = "W1 W2 W3 W4"
titles = "'W1 small LIFO' 'W2 kernel mix' 'W3 FIFO churn' 'W4 fragmenter'"
do for [w=1:4] {
    set title word(titles, w)
    plot for [a in "kheap glibc naive"] \
        sprintf("< grep '^%s .* %s ' build/bench/bench.dat", word(names, w), a) \
        using 2:4 with linespoints lw 2 pt 7 title a
}
unset multiplot

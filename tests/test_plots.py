"""jaxmix.plots: every helper returns the Axes it drew on."""


def test_plots_return_axes():
    import matplotlib

    from jaxmix import plots

    ax = plots.plot_feasible_region(eps_grid=[0.1, 0.3, 1.0])
    assert isinstance(ax, matplotlib.axes.Axes) and len(ax.lines) == 2
    ax = plots.plot_variance_preserving_curve(0.3, 0.3, num=64)
    assert isinstance(ax, matplotlib.axes.Axes)
    matplotlib.pyplot.close("all")

// page: a movie's page: its record, then concurrently its cast, its plot and
// a range of its reviews. No storage. (Upstream's PageService.ReadPage; its
// gateway has no route for it, this port's frontend has.)
import { services } from "pyrosome";

/** ReadPage(req_id, movie_id, review_start, review_stop) -> {movie_info, reviews, cast_infos, plot}. */
export async function readPage({ req_id, movie_id, review_start, review_stop }) {
  const movie_info = await services["movie-info"].readMovieInfo({ req_id, movie_id });
  const cast_ids = movie_info.casts.map((c) => c.cast_info_id);
  const [cast_infos, plot, reviews] = await Promise.all([
    services["cast-info"].readCastInfo({ req_id, cast_ids }),
    services.plot.readPlot({ req_id, plot_id: movie_info.plot_id }),
    services["movie-review"].readMovieReviews({ req_id, movie_id, start: review_start, stop: review_stop }),
  ]);
  return { movie_info, reviews, cast_infos, plot };
}

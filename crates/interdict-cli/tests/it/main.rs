mod assess;
mod policy;
mod serve;
